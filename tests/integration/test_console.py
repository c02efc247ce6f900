"""The web console (`kubatch console`) against the test cluster, on both tiers: its pages over
HTTP, its answers to bad input, cancel and terminate, the live event stream, and the whole of
it driven in headless Chromium (screenshots saved under .artifacts/console)."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from kubatch.cli.main import cli
from tests.integration.test_multinode import multinode
from tests.support.browser import artifacts, browser
from tests.support.cluster import wait_for
from tests.support.consoles import Answer, Consoles, get
from tests.support.system import Scenario

pytestmark = pytest.mark.integration


def post(url: str, form: dict[str, str]) -> Answer:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.read().decode(), response.url)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read().decode(), url)


def token(page: str) -> str:
    found = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def submit(scenario: Scenario, *args: str) -> None:
    base = ["--kubeconfig", str(scenario.kube.kubeconfig), "-n", scenario.namespace]
    result = CliRunner().invoke(cli, [*base, "submit", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def setup(scenario: Scenario) -> str:
    ce = scenario.environment()
    queue = scenario.queue(environments=(ce,))
    scenario.definition()
    return queue


def test_pages_show_queues_jobs_attempts_logs_definitions_and_schedules(
    scenario: Scenario, consoles: Consoles
) -> None:
    queue = setup(scenario)
    ns = scenario.namespace
    scenario.job("single", queue, parameters={"msg": "from the console test"})
    scenario.job("many", queue, arrayProperties={"size": 3})
    scenario.apply(
        {
            "kind": "ScheduledJob",
            "metadata": {"name": "yearly"},
            "spec": {
                "schedule": "@yearly",
                "jobTemplate": {"spec": {"jobQueue": queue, "jobDefinition": "def"}},
            },
        }
    )
    scenario.wait("single", "SUCCEEDED")
    scenario.wait("many", "SUCCEEDED")

    def shows(path: str, *texts: str) -> str:
        def ready() -> str | None:
            answer = get(consoles.url + path)
            assert answer.status == 200, answer.text
            return answer.text if all(t in answer.text for t in texts) else None

        return wait_for(ready, timeout=30, what=f"{path} to show {texts}")

    dashboard = shows("/", f'data-queue="{queue}"')
    row = dashboard.split(f'data-queue="{queue}"')[1].split("</tr>")[0]
    assert re.search(r'data-state="SUCCEEDED"><a [^>]*>4</a>', row), row  # 1 + 3 children
    shows(f"/jobs?namespace={ns}", f'data-job="{ns}/single"', f'data-job="{ns}/many"', "of 2")
    shows(f"/jobs?namespace={ns}&status=FAILED", "No jobs match.")
    single = shows(f"/jobs/{ns}/single", "SUCCEEDED", "single-", "Exit code")
    assert '<td class="num">0</td><td>Essential container in task exited</td>' in single
    child = shows(f"/jobs/{ns}/many?index=1", "Child 1 is", "many-")
    assert "/logs?attempt=1&amp;index=1" in child
    shows(f"/jobs/{ns}/single/logs", "$ echo from the console test", f"AWS_BATCH_JQ_NAME={queue}")
    shows(f"/jobs/{ns}/many/logs?index=2", "AWS_BATCH_JOB_ARRAY_INDEX=2")
    shows(f"/definitions?namespace={ns}", f"{ns}/def", 'data-revision="1"', "busybox")
    shows(f"/scheduled?namespace={ns}", f"{ns}/yearly", "@yearly", "Next run")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/jobs?page=0", 400, "page: input should be greater than or equal to 1"),
        ("/jobs?status=DONE", 400, "status: must be one of SUBMITTED, PENDING, RUNNABLE"),
        ("/jobs?namespace=Not_A_Name", 400, "namespace: must be a Kubernetes name"),
        ("/jobs?page=1&page=2", 400, "page: is given more than once"),
        ("/jobs?colour=red", 400, "colour: is not a parameter of this page"),
        ("/jobs/{ns}/nope", 404, "BatchJob {ns}/nope not found"),
        ("/jobs/{ns}/blocked?index=0", 400, "index: blocked is not an array job"),
        ("/jobs/{ns}/blocked/logs?attempt=x", 400, "attempt: input should be a valid integer"),
        ("/jobs/{ns}/blocked/logs", 200, "blocked has not started an attempt yet"),
        ("/definitions?namespace=%3Cb%3E", 400, "namespace: must be a Kubernetes name"),
        ("/events?kinds=Jobs!", 400, "kinds: must be resources (plurals such as batchjobs)"),
        ("/no/such/page", 404, "Not Found"),
    ],
)
def test_bad_input_gets_a_clear_message_never_a_trace(
    scenario: Scenario, consoles: Consoles, path: str, status: int, message: str
) -> None:
    queue = setup(scenario)
    scenario.job("blocked", queue, dependsOn=[{"jobName": "not-there"}])
    scenario.wait("blocked", "PENDING")
    ns = scenario.namespace

    def answered() -> Answer | None:
        answer = get(consoles.url + path.format(ns=ns))
        return answer if message.format(ns=ns) in answer.text else None

    answer = wait_for(answered, timeout=20, what=f"{path} to say {message!r}")
    assert answer.status == status
    assert "Traceback" not in answer.text
    assert "<b>" not in answer.text


def test_cancel_and_terminate_follow_aws_rules_and_need_the_pages_token(
    scenario: Scenario, consoles: Consoles
) -> None:
    queue = setup(scenario)
    ns = scenario.namespace
    scenario.job("blocked", queue, dependsOn=[{"jobName": "not-there"}])
    scenario.job("long", queue, sim={"duration": "120", "sigterm-exit-code": "143"})
    scenario.wait("blocked", "PENDING")
    scenario.wait("long", "RUNNING")

    def cancel_form() -> str | None:
        text = get(f"{consoles.url}/jobs/{ns}/blocked").text
        return text if "Cancel job" in text else None

    page = wait_for(cancel_form, timeout=20, what="the cancel form")
    form = {"reason": "not needed any more", "token": token(page)}

    refused = post(f"{consoles.read_only}/jobs/{ns}/blocked/cancel", form)
    assert refused.status == 403
    assert "turned off in this console" in refused.text
    forged = post(f"{consoles.url}/jobs/{ns}/blocked/cancel", {**form, "token": "0" * 64})
    assert forged.status == 403
    assert "token does not match" in forged.text
    empty = post(f"{consoles.url}/jobs/{ns}/blocked/cancel", {**form, "reason": ""})
    assert empty.status == 400
    assert "reason: field required" in empty.text
    running = post(f"{consoles.url}/jobs/{ns}/long/cancel", form)
    assert running.status == 409
    assert "cancel acts only on SUBMITTED, PENDING and RUNNABLE jobs" in running.text
    assert scenario.status("blocked")["status"] == "PENDING", "nothing refused was applied"

    cancelled = post(f"{consoles.url}/jobs/{ns}/blocked/cancel", form)
    assert cancelled.status == 200
    assert cancelled.url.endswith("?requested=cancel")
    assert "Cancel requested" in cancelled.text
    assert scenario.wait("blocked", "FAILED")["statusReason"] == "not needed any more"

    stopped = post(f"{consoles.url}/jobs/{ns}/long/terminate", {**form, "reason": "stop it"})
    assert stopped.status == 200, stopped.text
    assert scenario.wait("long", "FAILED")["statusReason"] == "stop it"
    wait_for(
        lambda: 'data-status="FAILED"' in get(f"{consoles.url}/jobs?namespace={ns}&name=long").text,
        timeout=20,
        what="the console to see long FAILED",
    )
    again = post(f"{consoles.url}/jobs/{ns}/long/terminate", form)
    assert again.status == 409
    assert "long is FAILED already: there is nothing to terminate" in again.text


def test_the_event_stream_tells_pages_of_changes(scenario: Scenario, consoles: Consoles) -> None:
    queue = setup(scenario)
    with urllib.request.urlopen(f"{consoles.url}/events?kinds=batchjobs", timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")

        def lines() -> Iterator[str]:
            while True:
                line = stream.readline()
                assert line, "the stream ended"
                yield line.decode().rstrip("\n")

        read = lines()
        assert next(line for line in read if line.startswith("event:")) == "event: ready"
        scenario.job("watched", queue)
        for line in read:
            if line == "event: change":
                assert next(read) == "data: batchjobs"
                break


# -- in a browser ----------------------------------------------------------------------------


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_form_being_filled_in_is_not_replaced_by_a_live_update(
    scenario: Scenario, consoles: Consoles
) -> None:
    """The page's live part is read again whenever something changes. A reason typed while
    it was being read was lost when it came back (the form replaced, the required field
    empty: the browser refused to send the cancel, and nothing said why). Now a form the
    reader is filling in, focused or with a field changed, holds the updates; the page says
    so, and the reason typed is the one the cancel sends."""
    queue = setup(scenario)
    ns = scenario.namespace
    submit(scenario, "held", "-q", queue, "-d", "def", "--depends-on", "not-there")
    scenario.wait("held", "PENDING")
    reason = "typed while the page was being read"
    with browser() as chromium:
        page = chromium.new_page()
        held: list[Any] = []

        def hold_fragments(route: Any) -> None:
            if route.request.headers.get("x-kubatch-fragment"):
                held.append(route)  # answered below, once the reason is typed
            else:
                route.continue_()

        page.route(f"**/jobs/{ns}/held", hold_fragments)
        page.goto(f"{consoles.url}/jobs/{ns}/held")
        for _ in range(200):  # the refresh that the event stream's opening asks for
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the page never read its live part"
        page.fill("form.stop input[name=reason]", reason)
        page.evaluate("document.activeElement.blur()")  # only the changed field holds it now
        for route in held:
            answer = route.fetch()
            route.fulfill(response=answer, body=answer.text() + '<p id="newer">newer</p>')
        page.wait_for_selector("#live-state >> text=updates paused while you fill in the form")
        assert page.locator("#newer").count() == 0
        assert page.input_value("form.stop input[name=reason]") == reason
        page.unroute(f"**/jobs/{ns}/held")
        page.get_by_role("button", name="Cancel job").click()
        page.wait_for_selector("text=Cancel requested: the operator acts on it in a moment.")
    status = scenario.wait("held", "FAILED")
    assert reason in status["statusReason"]


def test_console_in_a_browser(scenario: Scenario, consoles: Consoles) -> None:
    """A user's session: the dashboard updates without a reload as jobs submitted with the
    CLI run; filter the list, open a job, read its log, cancel one; every page also fits a
    phone's width. Screenshots of each page go to .artifacts/console."""
    queue = setup(scenario)
    ns = scenario.namespace
    shots = artifacts()
    kube_tier = scenario.kube.tier
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(consoles.url + "/")
        page.wait_for_selector("#live-state.on")  # the event stream is open
        page.evaluate("window.loadedOnce = true")
        cell = page.locator(f'tr[data-queue="{queue}"] td[data-state="SUCCEEDED"]')
        assert cell.inner_text() == "0"

        for name in ("first", "second", "third"):
            submit(scenario, name, "-q", queue, "-d", "def", "-p", f"msg={name} job")
        page.wait_for_function(
            f"""() => document.querySelector('tr[data-queue="{queue}"] td[data-state="SUCCEEDED"]')
                      ?.innerText === "3" """,
            timeout=60_000,
        )
        assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
        assert int(page.evaluate("document.body.dataset.updates")) >= 1
        page.screenshot(path=str(shots / f"{kube_tier}-dashboard.png"), full_page=True)

        page.get_by_role("navigation").get_by_role("link", name="Jobs", exact=True).click()
        page.select_option("select[name=namespace]", ns)
        page.fill("input[name=name]", "sec")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r".*name=sec.*"))
        rows = page.locator("table.jobs tbody tr")
        assert rows.count() == 1
        assert rows.first.get_attribute("data-job") == f"{ns}/second"
        page.screenshot(path=str(shots / f"{kube_tier}-jobs.png"), full_page=True)

        page.get_by_role("link", name="second", exact=True).click()
        page.wait_for_selector('dd[data-field="status"] >> text=SUCCEEDED')
        page.screenshot(path=str(shots / f"{kube_tier}-job.png"), full_page=True)
        page.get_by_role("link", name="log of attempt 1").click()
        log = page.locator("pre.log")
        log.wait_for()
        assert "$ echo second job" in log.inner_text()
        page.screenshot(path=str(shots / f"{kube_tier}-logs.png"), full_page=True)

        submit(scenario, "waiting", "-q", queue, "-d", "def", "--depends-on", "not-there")
        scenario.wait("waiting", "PENDING")
        page.goto(f"{consoles.url}/jobs/{ns}/waiting")
        page.wait_for_selector("text=dependency not-there is not submitted yet")
        page.fill("form.stop input[name=reason]", "changed my mind")
        page.get_by_role("button", name="Cancel job").click()
        page.wait_for_selector("text=Cancel requested: the operator acts on it in a moment.")
        page.wait_for_selector('dd[data-field="status"] >> text=FAILED', timeout=60_000)
        assert "changed my mind" in page.locator('dd[data-field="reason"]').inner_text()
        page.screenshot(path=str(shots / f"{kube_tier}-cancelled.png"), full_page=True)

        for path, name in (
            ("/definitions", "definitions"),
            ("/scheduled", "scheduled"),
            ("/jobs?page=0", "bad-query"),
        ):
            page.goto(consoles.url + path)
            page.screenshot(path=str(shots / f"{kube_tier}-{name}.png"), full_page=True)
        assert "page: input should be greater than or equal to 1" in page.inner_text("main")

        phone = chromium.new_page(viewport={"width": 390, "height": 844})
        for path, name in (
            ("/", "dashboard"),
            (f"/jobs?namespace={ns}", "jobs"),
            (f"/jobs/{ns}/second", "job"),
            (f"/jobs/{ns}/second/logs", "logs"),
        ):
            phone.goto(consoles.url + path)
            assert no_sideways_scroll(phone), f"{path} scrolls sideways on a phone"
            phone.screenshot(path=str(shots / f"{kube_tier}-phone-{name}.png"), full_page=True)
        unlabelled = phone.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select')]
                    .filter(e => !e.closest('label') && !e.getAttribute('aria-label')).length"""
        )
        assert unlabelled == 0, "every field has a label"


def test_a_multi_node_jobs_page_shows_its_nodes_and_the_main_nodes_log(
    scenario: Scenario, consoles: Consoles
) -> None:
    queue = scenario.queue(environments=(scenario.environment(),))
    multinode(scenario)
    scenario.job(
        "gang", queue, definition="mnp", sim={"duration": "600", "durations-by-index": "0=1"}
    )
    scenario.wait("gang", "SUCCEEDED", timeout=90)
    page_url = f"{consoles.url}/jobs/{scenario.namespace}/gang"

    def shown() -> Answer | None:
        page = get(page_url)
        return page if 'data-node="3"' in page.text and "SUCCEEDED" in page.text else None

    page = wait_for(shown, what="the job's nodes on its page")
    assert page.status == 200
    assert "0 (main)" in page.text
    assert "node-0.kubatch-" in page.text
    log = get(f"{page_url}/logs")
    assert log.status == 200
    assert "AWS_BATCH_JOB_NODE_INDEX=0" in log.text
