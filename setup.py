"""Packaging for beam-jobs: one-off MapReduce jobs run as Apache Beam
pipelines."""

import setuptools

BEAM_VERSION = '2.77.0'

setuptools.setup(
    name='beam-jobs',
    version='0.1.0',
    description=('Run App Engine-style one-off MapReduce jobs as Apache Beam '
                 'pipelines, locally and on Dataflow.'),
    python_requires='>=3.11',
    packages=setuptools.find_packages(
        include=['beam_jobs', 'beam_jobs.*', 'models', 'models.*',
                 'pipelines', 'pipelines.*', 'web', 'web.*']),
    package_data={'web': ['static/*']},
    py_modules=['run_pipeline'],
    # msgspec decodes and type-checks stored models in C (see
    # models/base_models.py); Starlette and uvicorn serve the admin page
    # (web/); rich draws run's progress bar on a terminal.
    install_requires=['apache-beam==%s' % BEAM_VERSION, 'msgspec==0.22.0',
                      'starlette==0.46.2', 'uvicorn==0.55.0',
                      'rich==15.0.0'],
    extras_require={
        # httpx: Starlette's test client; selenium drives Debian's chromium
        # in the admin page's browser tests.
        'test': ['pytest==9.2.0', 'httpx==0.29.0', 'selenium==4.51.0'],
        # Only for `make bench`: mrjob, the decoder of the
        # hand-written pipelines, and process-tree RSS.
        'bench': ['mrjob==0.7.4', 'orjson==3.13.0', 'psutil==7.2.2'],
        'gcp': ['apache-beam[gcp]==%s' % BEAM_VERSION],
    },
    entry_points={'console_scripts': ['beam-jobs=run_pipeline:main']},
)
