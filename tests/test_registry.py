"""The job contract and the registry: broken jobs are refused, by name,
before any pipeline starts."""

from __future__ import annotations

import pytest

from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import jobs
from beam_jobs import jobs_registry
from models import exp_models
from tests import sample_jobs


def _job(name, models=(exp_models.ExplorationModel,), map_fn='static',
         reduce_fn='static', **extra):
    namespace = dict(extra)
    namespace.setdefault('entity_classes_to_map_over', classmethod(
        lambda cls: list(models)))
    if map_fn == 'static':
        namespace['map'] = staticmethod(lambda item: iter(()))
    elif map_fn is not None:
        namespace['map'] = map_fn
    if reduce_fn == 'static':
        namespace['reduce'] = staticmethod(lambda key, values: iter(()))
    elif reduce_fn is not None:
        namespace['reduce'] = reduce_fn
    return type(name, (jobs.BaseMapReduceOneOffJobManager,), namespace)


def _broken_model_list(cls):
    raise RuntimeError('no database')


@pytest.mark.parametrize('job_class, message', [
    (_job('NoModelsJob', models=()),
     r'NoModelsJob.entity_classes_to_map_over\(\) returned no model classes'),
    (_job('NotAModelJob', models=(dict,)),
     r"NotAModelJob.entity_classes_to_map_over\(\) returned <class 'dict'>, "
     r'which is not a model class'),
    (_job('StringModelJob', models=('ExplorationModel',)),
     r"StringModelJob.entity_classes_to_map_over\(\) returned "
     r"'ExplorationModel', which is not a model class"),
    (_job('TwiceJob', models=(exp_models.ExplorationModel,) * 2),
     r'TwiceJob.entity_classes_to_map_over\(\) names ExplorationModel more '
     r'than once'),
    (type('NoEntityClassesJob', (jobs.BaseMapReduceOneOffJobManager,), {}),
     r'NoEntityClassesJob does not define entity_classes_to_map_over\(\)'),
    (_job('RaisingModelsJob',
          entity_classes_to_map_over=classmethod(_broken_model_list)),
     r'RaisingModelsJob.entity_classes_to_map_over\(\) raised RuntimeError: '
     r'no database'),
    (_job('NoMapJob', map_fn=None),
     r'NoMapJob does not define map\(item\)'),
    (_job('NoReduceJob', reduce_fn=None),
     r'NoReduceJob does not define reduce\(key, values\)'),
    (_job('InstanceMapJob', map_fn=lambda self, item: iter(())),
     r'InstanceMapJob.map must be a @staticmethod taking \(item\)'),
    (_job('ClassReduceJob',
          reduce_fn=classmethod(lambda cls, key, values: iter(()))),
     r'ClassReduceJob.reduce must be a @staticmethod taking \(key, values\)'),
    (_job('ShortReduceJob', reduce_fn=staticmethod(lambda: iter(()))),
     r'ShortReduceJob.reduce\(\) cannot be called with \(key, values\)'),
    (jobs.BaseMapReduceOneOffJobManager, 'is the base class, not a job'),
    (dict, r"<class 'dict'> is not a one-off job class"),
])
def test_contract_violations_are_refused_with_the_job_named(
        job_class, message):
    with pytest.raises(job_contract.JobContractError, match=message):
        job_contract.check_job_class(job_class)


def test_broken_job_is_refused_at_create_new_and_enqueue(store):
    broken = _job('NoReduceAtRunJob', reduce_fn=None)
    with pytest.raises(job_contract.JobContractError,
                       match='NoReduceAtRunJob'):
        broken.create_new()
    # A run created before the job broke is refused too, and stays new.
    job_id = job_runs.create('NoReduceAtRunJob').job_id
    with pytest.raises(job_contract.JobContractError,
                       match='NoReduceAtRunJob'):
        broken.enqueue(job_id)
    assert job_runs.get(job_id).state == 'new'


def test_subclass_inherits_map_and_reduce():
    child = type('ChildJob', (sample_jobs.CountByKindJob,), {})
    job_contract.check_job_class(child)


def test_shipped_registry_is_valid_and_found_by_name():
    classes = jobs_registry.get_all_one_off_job_classes()
    assert 'InteractionAuditOneOffJob' in [c.__name__ for c in classes]
    assert jobs_registry.get_job_class_by_name(
        'InteractionAuditOneOffJob').__name__ == 'InteractionAuditOneOffJob'


def test_duplicate_names_are_refused():
    twin = _job('CountByKindJob')
    with pytest.raises(job_contract.JobContractError,
                       match='two registered jobs are named CountByKindJob'):
        jobs_registry.check_registry([sample_jobs.CountByKindJob, twin])


def test_broken_job_in_registry_is_named():
    with pytest.raises(job_contract.JobContractError, match='NoMapJob'):
        jobs_registry.get_all_one_off_job_classes(
            [sample_jobs.CountByKindJob, _job('NoMapJob', map_fn=None)])


def test_unknown_name_suggests_the_closest():
    with pytest.raises(jobs_registry.UnknownJobError,
                       match="no registered one-off job named "
                       "'InteractionAuditJob'; did you mean "
                       "InteractionAuditOneOffJob"):
        jobs_registry.get_job_class_by_name('InteractionAuditJob')


def test_names_are_never_imported_as_paths():
    with pytest.raises(jobs_registry.UnknownJobError):
        jobs_registry.get_job_class_by_name('os.system')
