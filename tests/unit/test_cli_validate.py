"""`kubatch validate` checks files and folders without a cluster: YAML documents, YAML lists
and kubectl Lists; one line per problem with the file (and line), never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kubatch.cli.main import cli

QUEUE = (
    "apiVersion: kubatch.io/v1alpha1\nkind: JobQueue\nmetadata: {name: q}\n"
    "spec: {priority: 1, computeEnvironmentOrder: [{order: 1, computeEnvironment: c}]}\n"
)


def validate(*paths: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", *map(str, paths)], catch_exceptions=False)
    return result.exit_code, result.output.splitlines()


def test_a_folder_of_documents_lists_and_kubectl_lists(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(QUEUE + "---\n" + QUEUE.replace("name: q", "name: r"))
    listed = "- " + QUEUE.replace("\n", "\n  ").rstrip() + "\n"
    (tmp_path / "b.yaml").write_text(listed)
    (tmp_path / "c.yml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        + listed.replace("- ", "  - ", 1).replace("\n  ", "\n    ")
    )
    code, lines = validate(tmp_path)
    assert code == 0, lines
    assert lines == [
        f"{tmp_path}/a.yaml#0: JobQueue/q is valid",
        f"{tmp_path}/a.yaml#1: JobQueue/r is valid",
        f"{tmp_path}/b.yaml#0[0]: JobQueue/q is valid",
        f"{tmp_path}/c.yml#0[0]: JobQueue/q is valid",
    ]


def test_bad_yaml_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: JobQueue\n  oops: [\n")
    code, lines = validate(bad)
    assert code == 1
    assert lines == [
        f"{bad}:2:7: not valid YAML: mapping values are not allowed here",
        "Error: 1 invalid manifest(s)",
    ]


def test_an_invalid_object_names_the_field_and_the_rule_in_words(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(QUEUE.replace("computeEnvironment: c", "computeEnvironment: C_1"))
    code, lines = validate(path)
    assert code == 1
    assert any(
        "spec.computeEnvironmentOrder[0].computeEnvironment: must be a DNS-1123 label" in line
        for line in lines
    ), lines
    assert not any("^[" in line for line in lines), "no raw regular expression"
