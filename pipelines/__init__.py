"""The compiler from job classes to Beam pipelines, and its Beam I/O."""
