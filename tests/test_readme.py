"""The README's code that the suite runs is the code the README shows."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _python_block_after(heading: str, text: str) -> str:
    section = text[text.index(heading):]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_the_testing_example_is_the_file_the_suite_runs():
    readme = (ROOT / 'README.md').read_text()
    example = (ROOT / 'tests' / 'test_readme_example.py').read_text()
    # The file's docstring says where it comes from; the rest is the README's.
    body = example.split('"""', 2)[2].lstrip('\n')
    assert _python_block_after('### Testing a job', readme) == body
