"""The rules a one-off job class must follow, checked before any pipeline
is built, with errors that name the job and the rule it breaks; and the job
as the compiler takes it (spec_of).

A job class is a subclass of one of the framework's base classes (see
register_base_class; beam_jobs.jobs registers BaseMapReduceOneOffJobManager)
that defines entity_classes_to_map_over, a static map and a static reduce,
and may define a static combine.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from models import base_models
from pipelines import job_spec

# The framework's job base classes: what a job subclasses, never a job.
_base_classes: list[type] = []
# The mapper parameter that holds when the run was queued, in milliseconds
# since the epoch, as text (the old framework's name and form).
MAPPER_PARAM_KEY_QUEUED_TIME_MSECS = 'queued_time_msecs'
# The parameters the framework sets itself; a job's own may not shadow one.
FRAMEWORK_PARAMS = frozenset({MAPPER_PARAM_KEY_QUEUED_TIME_MSECS})


class JobContractError(TypeError):
    """A job class breaks the one-off job contract."""


def register_base_class(base_class: type) -> type:
    """Makes base_class one that jobs subclass (and that is not a job
    itself); returns it, so that it can decorate the class."""
    _base_classes.append(base_class)
    return base_class


_REQUIRED = object()


class Param:
    """A parameter a job declares it takes, in its PARAMS, in one line::

        PARAMS = {'cutoff_date': Param(str), 'limit': Param(int, 100)}

    Without a default, the parameter is required."""

    def __init__(self, kind: type, default: Any = _REQUIRED) -> None:
        self.kind = kind
        self.default = default

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def describe(self) -> str:
        """'str, required' or 'int, default 100'."""
        return '%s, %s' % (self.kind.__name__, 'required' if self.required
                           else 'default %r' % (self.default,))


def declared_params(job_class: type) -> dict[str, Param] | None:
    """The parameters a job declares (its PARAMS), or None if it declares
    none (and so takes any)."""
    found = getattr(job_class, 'PARAMS', None)
    if found is None:
        return None
    if not isinstance(found, Mapping) or not all(
            isinstance(p, Param) for p in found.values()):
        raise JobContractError(
            '%s.PARAMS must map names to Param(type[, default])'
            % job_class.__name__)
    return dict(found)


def describe_params(job_class: type) -> str:
    """What a job takes, for a person: 'cutoff_date (str, required)'."""
    declared = declared_params(job_class)
    if declared is None:
        return 'any parameters (it declares none)'
    return ', '.join('%s (%s)' % (name, param.describe())
                     for name, param in sorted(declared.items())) or 'none'


def checked_declared_params(job_class: type,
                            params: Mapping[str, Any]) -> dict[str, Any]:
    """params, with the declared defaults of those not given; raises
    JobContractError, listing what the job takes, for one it does not
    declare, a required one missing, or a value of another type."""
    declared = declared_params(job_class)
    if declared is None:
        return dict(params)
    name = job_class.__name__

    def refuse(what: str) -> JobContractError:
        return JobContractError('%s: %s; it takes %s' % (
            name, what, describe_params(job_class)))

    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise refuse('unknown parameter %s' % unknown[0])
    checked = {}
    for param_name, param in sorted(declared.items()):
        if param_name not in params:
            if param.required:
                raise refuse('missing parameter %s' % param_name)
            checked[param_name] = param.default
            continue
        value = params[param_name]
        if not isinstance(value, param.kind) or (
                isinstance(value, bool) and param.kind is not bool):
            raise refuse('parameter %s must be a %s, got %r' % (
                param_name, param.kind.__name__, value))
        checked[param_name] = value
    return checked


def check_params_are_free(job_class: type,
                          params: Mapping[str, Any]) -> None:
    """Raises JobContractError if a job parameter has the name of one the
    framework sets (FRAMEWORK_PARAMS), as the old framework did."""
    shadowed = sorted(FRAMEWORK_PARAMS & set(params))
    if shadowed:
        raise JobContractError(
            '%s: additional job param %s shadows an existing mapper param'
            % (job_class.__name__, shadowed[0]))


def spec_of(job_class: type, job_id: str | None, store_url: str,
            shard_count: int, params: Mapping[str, Any] | None = None,
            max_errors: int | None = None,
            dry_run: bool = False) -> job_spec.JobSpec:
    """The job (checked) and one run of it, as the compiler takes them."""
    check_job_class(job_class)
    combine_fn = getattr(job_class, 'combine', None)
    return job_spec.JobSpec(
        job_name=job_class.__name__,
        model_classes=tuple(model_classes_of(job_class)),
        map_fn=job_class.map, reduce_fn=job_class.reduce,
        combine_fn=combine_fn,
        store_url=store_url, shard_count=shard_count, job_id=job_id,
        params=dict(params or {}), max_errors=max_errors,
        # A combine's values must be those map yields: a job with one is
        # typed.
        old_strings=combine_fn is None and bool(
            getattr(job_class, 'OLD_FRAMEWORK_STRINGS', False)),
        dry_run=dry_run)


def model_classes_of(job_class: type) -> list[type[base_models.BaseModel]]:
    """The job's entity_classes_to_map_over(), checked."""
    name = job_class.__name__
    try:
        classes = job_class.entity_classes_to_map_over()
    except NotImplementedError:
        raise JobContractError(
            '%s does not define entity_classes_to_map_over()' % name) from None
    except Exception as e:
        raise JobContractError(
            '%s.entity_classes_to_map_over() raised %s: %s'
            % (name, type(e).__name__, e)) from e
    if isinstance(classes, (str, bytes)) or not _is_iterable(classes):
        raise JobContractError(
            '%s.entity_classes_to_map_over() must return a list of model '
            'classes, got %s' % (name, type(classes).__name__))
    classes = list(classes)
    if not classes:
        raise JobContractError(
            '%s.entity_classes_to_map_over() returned no model classes'
            % name)
    for model_class in classes:
        if not (isinstance(model_class, type) and
                issubclass(model_class, base_models.BaseModel)):
            raise JobContractError(
                '%s.entity_classes_to_map_over() returned %r, which is not a '
                'model class (a subclass of BaseModel)' % (name, model_class))
    kinds = [c.kind() for c in classes]
    duplicated = sorted({k for k in kinds if kinds.count(k) > 1})
    if duplicated:
        raise JobContractError(
            '%s.entity_classes_to_map_over() names %s more than once'
            % (name, ', '.join(duplicated)))
    return classes


def check_job_class(job_class: Any) -> None:
    """Raises JobContractError if job_class cannot run as a one-off job."""
    if not (isinstance(job_class, type) and
            issubclass(job_class, tuple(_base_classes))):
        raise JobContractError(
            '%r is not a one-off job class (a subclass of '
            'BaseMapReduceOneOffJobManager)' % (job_class,))
    if job_class in _base_classes:
        raise JobContractError(
            '%s is the base class, not a job' % job_class.__name__)
    model_classes_of(job_class)
    _check_static(job_class, 'map', ('item',))
    # reduce(item) was enough for the old framework in a job whose map
    # never yields: it is never called.
    _check_static(job_class, 'reduce', ('key', 'values'), ('item',))
    if getattr(job_class, 'combine', None) is not None:
        _check_static(job_class, 'combine', ('key', 'values'))


def _check_static(
        job_class: type, method: str, parameters: tuple[str, ...],
        *other_parameters: tuple[str, ...]) -> None:
    name = job_class.__name__
    owner = next(
        (k for k in job_class.__mro__ if method in vars(k)), None)
    if owner is None or owner in _base_classes:
        raise JobContractError(
            '%s does not define %s(%s)'
            % (name, method, ', '.join(parameters)))
    raw = vars(owner)[method]
    if not isinstance(raw, staticmethod):
        raise JobContractError(
            '%s.%s must be a @staticmethod taking (%s), as the old framework '
            'required' % (name, method, ', '.join(parameters)))
    function = raw.__func__
    for accepted in (parameters, *other_parameters):
        try:
            inspect.signature(function).bind(*accepted)
            return
        except TypeError:
            continue
    raise JobContractError(
        '%s.%s%s cannot be called with (%s)' % (
            name, method, inspect.signature(function),
            ', '.join(parameters)))


def _is_iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True
