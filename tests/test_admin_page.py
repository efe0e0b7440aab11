"""The admin page in a real browser: Debian's headless chromium, driven by
Selenium through Debian's chromedriver, against `run_pipeline.py serve` on
a free loopback port and a real SQLite store. Runs started from the page
run in processes of their own, as in production.

With BEAM_JOBS_SCREENSHOTS=FOLDER, the test saves the screenshots the
README shows there."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest

from beam_jobs import demo_data
from models import exp_models
from models import storage
from tests import waiting

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
TOKEN = 'browser-test-token'
TAG_STATE = '<img src=x onerror="document.title=1">'
TIMEOUT = 120

# The server, with a job of the tests registered that waits at a gate:
# a long run to watch and cancel.
_SERVE = '''
import sys
import run_pipeline
from beam_jobs import jobs_registry
from tests import sample_jobs
jobs_registry.ONE_OFF_JOB_MANAGERS.append(sample_jobs.GatedJob)
sys.exit(run_pipeline.main(sys.argv[1:]))
'''


@pytest.fixture(scope='module')
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = ('chromium and chromium-driver (Debian packages) are not '
                   'installed; .ci/run installs them')
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu',
                 '--disable-dev-shm-usage', '--window-size=1400,1000'):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serving(store_path):
    """`run_pipeline.py serve` on a free loopback port; its URL."""
    port = _free_port()
    env = dict(os.environ, BEAM_JOBS_ADMIN_TOKEN=TOKEN)
    server = subprocess.Popen(
        [sys.executable, '-c', _SERVE, '--store', store_path, 'serve',
         '--port', str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith('beam-jobs admin page for '), (
            line + server.stderr.read())
        url = line.split(': ', 1)[1].strip()
        assert url == 'http://127.0.0.1:%d/?token=%s' % (port, TOKEN)
        waiting.wait_until(lambda: _listening(port), 'the server', TIMEOUT)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=TIMEOUT)


def _seed():
    demo_data.seed(20, 10, seed=4)
    exp_models.ExplorationModel(
        id='exp-tag', init_state_name=TAG_STATE,
        states={TAG_STATE: {'interaction': {'id': 'TagInput'}}}).put()
    storage.close_all_stores()


@pytest.fixture
def page_url(store, store_path):
    _seed()
    with _serving(store_path) as url:
        yield url


def _listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(('127.0.0.1', port)) == 0


def _wait(browser, condition, what):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    # The runs table is drawn again each second while a run is active: an
    # element found just before may be gone; the next poll finds the new.
    try:
        return WebDriverWait(
            browser, TIMEOUT, poll_frequency=0.2,
            ignored_exceptions=[StaleElementReferenceException]).until(
                lambda driver: condition(driver))
    except Exception as e:
        raise AssertionError('waited for %s; the page says: %s / %s' % (
            what, browser.find_element('id', 'message').text,
            browser.find_element('id', 'runs').text[:500])) from e


def _start(browser, job, fill=None):
    from selenium.webdriver.common.by import By
    form = browser.find_element(
        By.CSS_SELECTOR, 'form[data-job="%s"]' % job)
    if fill:
        fill(form)
    before = browser.find_element(By.ID, 'message').text
    form.find_element(By.NAME, 'start').click()
    message = _wait(browser, lambda d: d.find_element(
        By.ID, 'message').text not in ('', before) and d.find_element(
            By.ID, 'message').text, 'the start to be reported')
    assert message.startswith('Started '), message
    return message[len('Started '):]


def _row(browser, job_id):
    from selenium.webdriver.common.by import By
    rows = browser.find_elements(
        By.CSS_SELECTOR, 'tr.run-row[data-job-id="%s"]' % job_id)
    return rows[0] if rows else None


def _state(browser, job_id, with_progress=False):
    """The state the runs table shows for a run (None before it is
    listed; with_progress, only once its row also has a progress bar), read
    in one step of the page: the table is drawn again each second."""
    return browser.execute_script(
        'const row = document.querySelector('
        '"tr.run-row[data-job-id=\'" + arguments[0] + "\']");'
        'if (!row || (arguments[1] && !row.querySelector("progress")))'
        '  return null;'
        'return row.children[2].textContent;', job_id, with_progress)


def test_start_watch_read_and_cancel_runs_in_a_browser(browser, page_url,
                                                       tmp_path):
    from selenium.webdriver.common.by import By
    browser.get(page_url)
    # The token left the address bar for a cookie.
    assert browser.current_url.endswith('/') and TOKEN not in (
        browser.current_url)
    _wait(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, 'form[data-job="InteractionAuditOneOffJob"]'),
        'the jobs to load')

    audit_id = _start(browser, 'InteractionAuditOneOffJob')
    _wait(browser, lambda d: _state(d, audit_id) == 'completed',
          'the audit to complete')
    _row(browser, audit_id).click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR,
                                             '#run-output li'),
          'the output')
    lines = [li.text for li in browser.find_elements(
        By.CSS_SELECTOR, '#run-output li')]
    assert any(line.startswith("('TextInput', [") for line in lines), lines
    # A state name that is an HTML tag shows as text, and no image was made
    # of it (nor its handler run).
    assert "('TagInput', ['exp-tag %s'])" % TAG_STATE in lines
    assert not browser.find_elements(By.CSS_SELECTOR, '#run-output img')
    assert browser.title == 'beam-jobs: one-off jobs'
    shots = os.environ.get('BEAM_JOBS_SCREENSHOTS')
    if shots:
        browser.find_element(By.ID, 'run-section').screenshot(
            os.path.join(shots, 'admin-page-run.png'))

    # A long run: watched while it goes on, then canceled from the page.
    gate = str(tmp_path / 'gate')

    def gate_params(form):
        form.find_element(By.NAME, 'params-json').send_keys(
            '{"gate_model": "%s", "gate_path": "%s"}'
            % (demo_data.exploration_id(12), gate))

    long_id = _start(browser, 'GatedJob', gate_params)
    try:
        _wait(browser, lambda d: os.path.exists(gate + '.reached'),
              'the long run to reach its gate')
        _wait(browser, lambda d: _state(d, long_id, with_progress=True) ==
              'started', 'the long run to show its progress')
        if shots:
            browser.find_element(By.ID, 'runs').screenshot(
                os.path.join(shots, 'admin-page-runs.png'))
        _row(browser, long_id).click()
        _wait(browser, lambda d: d.find_element(By.ID, 'run-id').text ==
              long_id, 'the long run to open')
        _wait(browser, lambda d: d.find_element(
            By.ID, 'run-cancel').is_enabled(), 'cancel to be offered')
        browser.find_element(By.ID, 'run-cancel').click()
        browser.switch_to.alert.accept()
        _wait(browser, lambda d: _state(d, long_id) == 'canceled',
              'the long run to show canceled')
    finally:
        open(gate, 'w').close()  # Lets the run's process end.
    storage.close_all_stores()
    run = storage.get_store().get_run(long_id)
    assert run['state'] == 'canceled' and run['canceled_by'] == 'admin page'


def test_the_page_needs_the_token(browser, page_url):
    from selenium.webdriver.common.by import By
    browser.delete_all_cookies()
    browser.get(page_url.split('?')[0])
    body = browser.find_element(By.TAG_NAME, 'body').text
    assert 'a token is needed' in body


def test_chromium_is_the_systems(browser):
    # The driver runs the Debian binary, not a downloaded browser.
    assert shutil.which('chromium') == CHROMIUM
    assert browser.capabilities['browserName'] in ('chrome', 'chromium')


def _api(url, path, body=None):
    """A call of the JSON API of the server at url, with the token."""
    base = url.split('/?')[0]
    request = urllib.request.Request(
        base + path, data=None if body is None else json.dumps(body).encode(),
        headers={'Authorization': 'Bearer ' + TOKEN,
                 'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def test_a_restart_of_the_server_neither_ends_nor_forgets_a_run(
        store, store_path, tmp_path):
    _seed()
    gate = str(tmp_path / 'gate')
    with _serving(store_path) as url:
        job_id = _api(url, '/api/runs', {'job': 'GatedJob', 'params': {
            'gate_model': demo_data.exploration_id(3), 'gate_path': gate}}
        )['job_id']
        waiting.wait_until(lambda: os.path.exists(gate + '.reached'),
                           'the run to reach its gate', TIMEOUT)
    # The server is gone; the run's own process is not.
    record = storage.get_store().get_run(job_id)
    assert record['state'] == 'started'
    os.kill(record['owner_pid'], 0)  # Raises if the process has ended.
    try:
        with _serving(store_path) as url:
            assert _api(url, '/api/runs/' + job_id)['state'] == 'started'
            listed = _api(url, '/api/runs')['runs']
            assert [r['job_id'] for r in listed][:1] == [job_id]
            assert _api(url, '/api/runs/%s/cancel' % job_id, {}) == {
                'job_id': job_id, 'state': 'canceled'}
    finally:
        open(gate, 'w').close()
