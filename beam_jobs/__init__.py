"""The one-off job API, the registry, job runs and the shipped jobs."""
