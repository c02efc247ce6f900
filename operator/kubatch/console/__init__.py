"""The web console (`kubatch console`): dashboard, jobs, job detail with logs, definitions
and scheduled jobs, live from the cluster's watches."""
