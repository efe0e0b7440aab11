"""Starting and stopping the Cloud Datastore emulator of the gcloud CLI, for
tests and the Datastore demo.

    python -m beam_jobs.datastore_emulator [--project P] -- COMMAND ARGS...

starts an in-memory emulator on a free loopback port, runs COMMAND with
DATASTORE_EMULATOR_HOST (and DATASTORE_PROJECT_ID) set, and stops the
emulator, whatever COMMAND does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Sequence

DEFAULT_PROJECT = 'beam-jobs-test'
START_TIMEOUT_SECONDS = 90.0


class EmulatorUnavailable(RuntimeError):
    """The emulator is not installed here, or did not start."""


class EmulatorMissing(EmulatorUnavailable):
    """gcloud, its Datastore emulator component or Java is not installed."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def gcloud_path() -> str | None:
    """The gcloud executable, or None if it is not installed."""
    return shutil.which('gcloud')


def check_installed() -> str:
    """The gcloud executable, if gcloud, its Datastore emulator component
    and Java are all installed; else raises EmulatorMissing saying which
    is not."""
    gcloud = gcloud_path()
    if gcloud is None:
        raise EmulatorMissing(
            'the Cloud Datastore emulator needs the gcloud CLI '
            '(google-cloud-cli), and gcloud is not on PATH')
    sdk_root = os.path.dirname(os.path.dirname(os.path.realpath(gcloud)))
    emulator = os.path.join(sdk_root, 'platform', 'cloud-datastore-emulator')
    if not os.path.isdir(emulator):
        raise EmulatorMissing(
            'the gcloud CLI at %s has no Cloud Datastore emulator (%s is '
            'missing; install the google-cloud-cli-datastore-emulator '
            'package or `gcloud components install cloud-datastore-emulator`)'
            % (gcloud, emulator))
    if shutil.which('java') is None:
        raise EmulatorMissing(
            'the Cloud Datastore emulator needs Java, and java is not on PATH')
    return gcloud


class DatastoreEmulator:
    """One emulator process (and its Java child) in its own process group.

    Use as a context manager, or call start() and stop().
    """

    def __init__(self, project: str = DEFAULT_PROJECT) -> None:
        self.project = project
        self.port: int | None = None
        self._process: subprocess.Popen | None = None
        self._data_dir: str | None = None
        self._log = None

    @property
    def host(self) -> str:
        """host:port, the value of DATASTORE_EMULATOR_HOST."""
        return 'localhost:%d' % self.port

    def env(self) -> dict[str, str]:
        """The environment variables that point clients at this emulator."""
        return {'DATASTORE_EMULATOR_HOST': self.host,
                'DATASTORE_PROJECT_ID': self.project,
                'DATASTORE_DATASET': self.project}

    def start(self) -> 'DatastoreEmulator':
        """Starts the emulator and waits until it answers Ok."""
        gcloud = check_installed()
        self.port = free_port()
        # Its own data dir: emulators started side by side must not share
        # ~/.config/gcloud/emulators/datastore.
        self._data_dir = tempfile.mkdtemp(prefix='datastore-emulator-')
        self._log = open(os.path.join(self._data_dir, 'emulator.log'), 'wb')
        self._process = subprocess.Popen(
            [gcloud, 'beta', 'emulators', 'datastore', 'start',
             '--project=%s' % self.project, '--no-store-on-disk',
             '--host-port=localhost:%d' % self.port, '--consistency=1.0',
             '--data-dir=%s' % self._data_dir],
            stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.log_tail()
                self.stop()
                raise EmulatorUnavailable(
                    'the Datastore emulator exited with status %s:\n%s'
                    % (self._process.returncode, log))
            try:
                with urllib.request.urlopen(
                        'http://%s/' % self.host, timeout=2) as response:
                    if response.read().strip() == b'Ok':
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        log = self.log_tail()
        self.stop()
        raise EmulatorUnavailable(
            'the Datastore emulator did not answer within %ds:\n%s'
            % (START_TIMEOUT_SECONDS, log))

    def log_tail(self, lines: int = 20) -> str:
        """The end of the emulator's output, for error messages."""
        if self._data_dir is None:
            return ''
        try:
            with open(os.path.join(self._data_dir, 'emulator.log'),
                      'rb') as f:
                text = f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stops gcloud and the Java emulator it started (the whole process
        group: killing gcloud alone leaves Java running)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        elif process is not None:
            # gcloud exited; its Java child may still hold the group.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> 'DatastoreEmulator':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description='Run a command against a fresh Datastore emulator.')
    parser.add_argument('--project', default=DEFAULT_PROJECT)
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command
    if command[:1] == ['--']:
        command = command[1:]
    if not command:
        parser.error('no command given')
    try:
        with DatastoreEmulator(args.project) as emulator:
            sys.stderr.write('Datastore emulator for project %s at %s\n'
                             % (emulator.project, emulator.host))
            env = dict(os.environ, **emulator.env())
            return subprocess.call(command, env=env)
    except EmulatorUnavailable as e:
        sys.stderr.write('error: %s\n' % e)
        return 1


if __name__ == '__main__':
    sys.exit(main())
