"""The admin page and its JSON API: start, watch, cancel and read one-off
jobs in a browser (see docs/admin-page.md).

Every request needs the server's token: the page gets it once from the
URL (``/?token=...``), which sets it as an HttpOnly, SameSite=Strict
cookie; API clients send ``Authorization: Bearer TOKEN``. A POST that
authenticates with the cookie must also carry the CSRF token (the
``beam_jobs_csrf`` cookie, echoed in an ``X-CSRF-Token`` header). Every
text from the store reaches the page as JSON and is shown with
textContent, never as HTML, under a Content-Security-Policy that allows
only this server's own script and style.

A run started here is queued by this process and run by a process of its
own (beam_jobs.run_worker), so that the page stays responsive
during a long run, and a restart of the server neither ends nor forgets
it.
"""

from __future__ import annotations

import hmac
import itertools
import os
import secrets
from typing import Any, Callable

from apache_beam.options import pipeline_options as beam_options
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (FileResponse, JSONResponse, PlainTextResponse,
                                 RedirectResponse, Response)
from starlette.routing import Route

from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import jobs
from beam_jobs import jobs_registry
from beam_jobs import launcher
from beam_jobs import run_worker
from beam_jobs import user_errors
from models import storage
from pipelines import options as pipeline_options

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN_ENV_VAR = 'BEAM_JOBS_ADMIN_TOKEN'
TOKEN_COOKIE = 'beam_jobs_token'
CSRF_COOKIE = 'beam_jobs_csrf'
CSRF_HEADER = 'x-csrf-token'
PAGE_SIZE_MAX = 1000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "connect-src 'self'; img-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
# Counting a kind for a run's progress stops here (a scan of keys on
# Cloud Datastore).
COUNT_AT_MOST = 1_000_000


class ApiError(Exception):
    """A request the API refuses; the message says why, for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(token: str,
               start_run: Callable[[type, str], None] | None = None
               ) -> Starlette:
    """The admin app, which admits requests carrying token. start_run
    starts the process that runs a queued run (by default,
    beam_jobs.run_worker, in a session of its own)."""
    starter = start_run or run_worker.start

    async def page(request: Request) -> Response:
        given = request.query_params.get('token')
        if given is not None:
            if not hmac.compare_digest(given, token):
                return PlainTextResponse('wrong token', status_code=401)
            # The token leaves the URL (and the browser's history) at once.
            response = RedirectResponse('/', status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True,
                                samesite='strict')
            response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24),
                                samesite='strict')
            return response
        return FileResponse(os.path.join(HERE, 'static', 'page.html'))

    async def static(request: Request) -> Response:
        name = request.path_params['name']
        if name not in ('page.js', 'page.css'):
            return PlainTextResponse('not found', status_code=404)
        return FileResponse(os.path.join(HERE, 'static', name))

    def api(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                body = None
                if request.method == 'POST':
                    body = await request.json() if await request.body() else {}
                return JSONResponse(handler(request, body))
            except ApiError as e:
                return JSONResponse({'error': str(e)}, status_code=e.status)
            except (*user_errors.USER_ERRORS, ValueError) as e:
                return JSONResponse({'error': str(e)}, status_code=400)
        return endpoint

    def start(request: Request, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object')
        return {'job_id': start_job(body, starter)}

    routes = [
        Route('/', page),
        Route('/static/{name}', static),
        Route('/api/jobs', api(lambda r, b: list_jobs())),
        Route('/api/runs', api(lambda r, b: list_runs(r.query_params))),
        Route('/api/runs', api(start), methods=['POST']),
        Route('/api/runs/{job_id}', api(
            lambda r, b: run_details(r.path_params['job_id']))),
        Route('/api/runs/{job_id}/output', api(
            lambda r, b: run_output(r.path_params['job_id'],
                                    r.query_params))),
        Route('/api/runs/{job_id}/output.txt', full_output),
        Route('/api/runs/{job_id}/errors', api(
            lambda r, b: run_errors(r.path_params['job_id'],
                                    r.query_params))),
        Route('/api/runs/{job_id}/cancel', api(
            lambda r, b: cancel_run(r.path_params['job_id'])),
            methods=['POST']),
        Route('/api/jobs/{name}/cancel_all', api(
            lambda r, b: cancel_all(r.path_params['name'])),
            methods=['POST']),
    ]
    return Starlette(routes=routes, middleware=[
        Middleware(_Guard, token=token)])


class _Guard(BaseHTTPMiddleware):
    """The token on every request but the page's first (which brings it),
    CSRF on every POST a cookie authenticates, and the security headers on
    every response."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._token = token

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response = await self._checked(request, call_next)
        response.headers['Content-Security-Policy'] = CSP
        response.headers['X-Content-Type-Options'] = 'nosniff'
        response.headers['Referrer-Policy'] = 'no-referrer'
        response.headers['Cache-Control'] = 'no-store'
        return response

    async def _checked(self, request: Request, call_next: Any) -> Response:
        if request.url.path == '/' and 'token' in request.query_params:
            return await call_next(request)
        bearer = request.headers.get('authorization', '')
        by_header = bearer.startswith('Bearer ')
        given = (bearer[len('Bearer '):] if by_header
                 else request.cookies.get(TOKEN_COOKIE, ''))
        if not (given and hmac.compare_digest(given, self._token)):
            return JSONResponse({'error': 'a token is needed'},
                                status_code=401)
        if request.method == 'POST' and not by_header:
            expected = request.cookies.get(CSRF_COOKIE, '')
            sent = request.headers.get(CSRF_HEADER, '')
            if not (expected and hmac.compare_digest(expected, sent)):
                return JSONResponse({'error': 'CSRF token missing or wrong'},
                                    status_code=403)
        return await call_next(request)


# What the API serves, as data.
def list_jobs() -> list[dict[str, Any]]:
    """The registered jobs: name, docstring's first paragraph, model kinds,
    declared parameters, shard count."""
    found = []
    for job_class in jobs_registry.get_all_one_off_job_classes():
        doc = (job_class.__doc__ or '').strip().split('\n\n')[0]
        declared = job_contract.declared_params(job_class)
        overrides_enqueue = 'enqueue' in vars(job_class)
        found.append({
            'name': job_class.__name__,
            'doc': ' '.join(doc.split()),
            'kinds': [c.kind() for c in
                      job_contract.model_classes_of(job_class)],
            'params': None if declared is None else {
                name: {'type': p.kind.__name__, 'required': p.required,
                       'default': None if p.required else p.default}
                for name, p in sorted(declared.items())},
            'shard_count': ('set by the job' if overrides_enqueue
                            else jobs.DEFAULT_SHARD_COUNT),
        })
    return found


def start_job(body: dict[str, Any],
              starter: Callable[[type, str], None]) -> str:
    """Queues a run of a registered job as body asks and starts its
    process; its job id. Refuses what the command line refuses."""
    job_class = jobs_registry.get_job_class_by_name(str(body.get('job', '')))
    params = body.get('params') or {}
    if not isinstance(params, dict):
        raise ApiError(400, 'params must be an object')
    pipeline_args = body.get('pipeline_args') or []
    if not (isinstance(pipeline_args, list) and
            all(isinstance(a, str) for a in pipeline_args)):
        raise ApiError(400, 'pipeline_args must be a list of strings')
    shard_count = body.get('shard_count')
    job_contract.checked_declared_params(job_class, params)
    options = pipeline_options.parse(pipeline_args)
    if not pipeline_options.is_local(options):
        raise ApiError(400, 'the admin page starts local runs only; submit '
                       'Dataflow runs with run_pipeline.py run')
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    run_worker.queue(job_class, job_id, params, shard_count)
    starter(job_class, job_id)
    return job_id


def _int_param(query: Any, name: str, default: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise ApiError(400, '%s must be a whole number' % name) from None
    if value < 0:
        raise ApiError(400, '%s must be 0 or more' % name)
    return value


def _page_of(query: Any) -> tuple[int, int]:
    offset = _int_param(query, 'offset', 0)
    limit = min(_int_param(query, 'limit', 50), PAGE_SIZE_MAX)
    return offset, limit


def list_runs(query: Any) -> dict[str, Any]:
    """Recent runs, newest first: a page of them, of one job and state if
    asked."""
    offset, limit = _page_of(query)
    job = query.get('job') or None
    state = query.get('state') or None
    totals: dict[str, int | None] = {}
    if state is None:
        runs = job_runs.list_recent(offset + limit + 1, job)[offset:]
    else:
        runs = [run for run in job_runs.list_recent(None, job)
                if run.state == state][offset:offset + limit + 1]
    return {'runs': [_run_summary(run, totals) for run in runs[:limit]],
            'offset': offset, 'more': len(runs) > limit}


def _run_summary(run: job_runs.JobRun,
                 totals: dict[str, int | None]) -> dict[str, Any]:
    details = run.details or {}
    summary = {
        'job_id': run.job_id, 'job': run.job_type, 'state': run.state,
        'time_queued_msec': run.time_queued_msec,
        'time_started_msec': run.time_started_msec,
        'time_finished_msec': run.time_finished_msec,
        'models_read': run.models_read, 'output_lines': run.output_lines,
        'error_count': run.error_count, 'canceled_by': run.canceled_by,
        'counters': details.get(launcher.JOB_COUNTERS) or {},
        'dry_run': details.get(launcher.DRY_RUN) is True,
        'subset': details.get(launcher.SUBSET),
    }
    summary.update(_progress(run, totals))
    return summary


def _progress(run: job_runs.JobRun,
              totals: dict[str, int | None]) -> dict[str, Any]:
    """A running run's models to read, stage, rate and time left."""
    if run.state != job_runs.STATUS_CODE_STARTED:
        return {}
    if run.job_type not in totals:
        totals[run.job_type] = _models_to_read(run.job_type)
    total = totals[run.job_type]
    read = run.models_read or 0
    elapsed = max(job_runs.now_msec() - (run.time_started_msec or 0), 1.0)
    rate = read / (elapsed / 1000.0)
    progress: dict[str, Any] = {
        'models_total': total, 'rate_per_second': round(rate, 1),
        'stage': 'read and map' if total is None or read < total
        else 'reduce and write output'}
    if total and rate > 0 and read < total:
        progress['seconds_left'] = round((total - read) / rate)
    return progress


def _models_to_read(job_type: str) -> int | None:
    try:
        job_class = jobs_registry.get_job_class_by_name(job_type)
    except jobs_registry.UnknownJobError:
        return None
    store = storage.get_store()
    return sum(store.count(c.kind(), limit=COUNT_AT_MOST)
               for c in job_contract.model_classes_of(job_class))


def _run(job_id: str) -> job_runs.JobRun:
    try:
        return job_runs.get(job_id)
    except job_runs.JobRunError as e:
        raise ApiError(404, str(e)) from e


def run_details(job_id: str) -> dict[str, Any]:
    """Everything about one run."""
    run = _run(job_id)
    details = dict(_run_summary(run, {}))
    error = run.error or ''
    details.update({
        'params': run.params, 'pipeline_args': run.pipeline_args,
        'shard_count': run.shard_count, 'runner': run.runner,
        'time_created_msec': run.time_created_msec,
        'error': error.split('\n')[0], 'error_traceback': error,
        'error_total': storage.get_store().count_errors(job_id),
        'details': run.details, 'external_job_id': run.external_job_id,
    })
    if run.external_job_id and run.pipeline_args:
        cloud = pipeline_options.parse(run.pipeline_args).view_as(
            beam_options.GoogleCloudOptions)
        details['dataflow_console'] = (
            'https://console.cloud.google.com/dataflow/jobs/%s/%s?project=%s'
            % (cloud.region, run.external_job_id, cloud.project))
    return details


def run_output(job_id: str, query: Any) -> dict[str, Any]:
    """A page of a completed run's output lines, of those that hold the
    text q if asked."""
    run = _run(job_id)
    offset, limit = _page_of(query)
    if run.state != job_runs.STATUS_CODE_COMPLETED:
        return {'lines': [], 'offset': offset, 'more': False,
                'total': 0}
    search = query.get('q') or ''
    lines = storage.get_store().read_output(job_id)
    if search:
        lines = (line for line in lines if search in line)
    page = list(itertools.islice(lines, offset, offset + limit + 1))
    return {'lines': page[:limit], 'offset': offset,
            'more': len(page) > limit, 'total': run.output_lines}


async def full_output(request: Request) -> Response:
    """Every output line of a completed run, as a text file."""
    job_id = request.path_params['job_id']
    try:
        run = _run(job_id)
    except ApiError as e:
        return JSONResponse({'error': str(e)}, status_code=e.status)
    lines = (storage.get_store().read_output(job_id)
             if run.state == job_runs.STATUS_CODE_COMPLETED else [])
    return Response(''.join(line + '\n' for line in lines),
                    media_type='text/plain; charset=utf-8', headers={
                        'Content-Disposition':
                            'attachment; filename="%s.txt"' % job_id})


def run_errors(job_id: str, query: Any) -> dict[str, Any]:
    """A page of a run's failed models and keys."""
    _run(job_id)
    offset, limit = _page_of(query)
    found = storage.get_store().read_errors(job_id, offset + limit + 1)
    page = found[offset:]
    return {'errors': [e._asdict() for e in page[:limit]],
            'offset': offset, 'more': len(page) > limit}


def _registered(job_type: str) -> type | None:
    try:
        return jobs_registry.get_job_class_by_name(job_type)
    except jobs_registry.UnknownJobError:
        return None


def cancel_run(job_id: str) -> dict[str, Any]:
    """Cancels a queued or started run."""
    run = _run(job_id)
    launcher.cancel(job_id, 'admin page', _registered(run.job_type))
    return {'job_id': job_id, 'state': job_runs.get(job_id).state}


def cancel_all(name: str) -> dict[str, Any]:
    """Cancels every queued or started run of a registered job."""
    job_class = jobs_registry.get_job_class_by_name(name)
    unfinished = job_runs.list_unfinished(job_class.__name__)
    for run in unfinished:
        launcher.cancel(run.job_id, 'admin page', job_class)
    return {'canceled': [run.job_id for run in unfinished]}


def new_token() -> str:
    """The token of a server start: BEAM_JOBS_ADMIN_TOKEN, else random."""
    return os.environ.get(TOKEN_ENV_VAR) or secrets.token_urlsafe(24)
