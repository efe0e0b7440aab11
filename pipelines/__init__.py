"""The compiler from job classes to Beam pipelines, and its Beam I/O."""

from pipelines import beam_logs

# Before any module here imports Beam, which logs a false warning while it
# is imported without the gcp extra (the local install the README
# recommends): every script that runs a job would print it.
beam_logs.drop_silent_lines()
