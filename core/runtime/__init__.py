"""The process: its life (process.py), the services it builds (services.py), the job kinds it runs
(jobs.py), the supervisor of its coroutines, the database-outage policy, and the preflight."""
