"""The one-off job API, the registry, job runs and the shipped jobs."""

# Importing the pipelines package drops Beam's false warnings (see its
# __init__) before any module here imports Beam: a script that imports a
# job from here and enqueues it would otherwise print one.
import pipelines  # noqa: F401
