"""The compiler from job classes to Beam pipelines, and its Beam I/O."""

from pipelines import beam_warnings

# Before any module here imports Beam, which logs a false warning while it
# is imported without the gcp extra (the local install the README
# recommends): every script that runs a job would print it.
beam_warnings.drop_false_warnings()
