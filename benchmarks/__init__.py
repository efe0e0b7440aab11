"""The benchmark of compiled jobs against hand-written Beam, a plain Python
loop and mrjob; run it with ``make bench``."""
