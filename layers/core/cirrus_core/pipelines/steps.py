"""Builds the step Lambdas' services once per execution environment (functions/pipelines/steps).

Each step function uses one builder, so each builder imports what it needs itself: `Prepare run`
never loads the registry's service and Cedar, which only registration and approvals use.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.pipelines.cache import StepCache
from cirrus_core.pipelines.settings import get_pipeline_settings
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.pipelines.approvals import Approvals
    from cirrus_core.pipelines.baseline_profile import BaselineProfiler
    from cirrus_core.pipelines.evaluation import EvaluationReader
    from cirrus_core.pipelines.prepare import PrepareRun
    from cirrus_core.pipelines.registration import VersionRegistrar
    from cirrus_core.pipelines.run_events import RunNotifier


def _allowed_buckets() -> frozenset[str]:
    settings = get_settings()
    return allowed_artifact_buckets(settings.artifact_bucket, settings.artifact_bucket_allowlist)


@functools.cache
def step_cache() -> StepCache:
    """The step cache in the pipelines table."""
    return StepCache(boto3.client("dynamodb"), get_pipeline_settings().pipelines_table)


@functools.cache
def prepare_run() -> PrepareRun:
    """`Prepare run` of this execution environment."""
    from cirrus_core.data.settings import get_data_settings
    from cirrus_core.pipelines.data_sources import DataSources, DynamoDataCatalog
    from cirrus_core.pipelines.prepare import PrepareRun
    from cirrus_core.pipelines.recipes_upload import RecipeStore, builtin_recipes

    s3 = boto3.client("s3")
    bucket = get_settings().artifact_bucket
    data = get_data_settings()
    # Without the data table, runs read s3:// URIs only (named sources are refused, saying why).
    catalog = (
        DynamoDataCatalog(boto3.client("dynamodb"), data.data_table, data.data_bucket)
        if data.data_table
        else None
    )
    return PrepareRun(
        settings=get_pipeline_settings(),
        artifact_bucket=bucket,
        allowed_buckets=_allowed_buckets(),
        region=boto3.session.Session().region_name or s3.meta.region_name,
        s3=s3,
        data_sources=DataSources(s3, _allowed_buckets(), catalog),
        recipes=builtin_recipes,
        recipe_store=RecipeStore(s3, bucket),
        cache=step_cache(),
    )


@functools.cache
def evaluation_reader() -> EvaluationReader:
    """`Collect evaluation`: reads the evaluation step's evaluation.json."""
    from cirrus_core.pipelines.evaluation import EvaluationReader

    return EvaluationReader(boto3.client("s3"))


@functools.cache
def baseline_profiler() -> BaselineProfiler:
    """`Profile baseline`: reads the raw training split, builds the baseline with the science layer."""
    from cirrus_core.pipelines.baseline_profile import BaselineProfiler, build_with_science

    settings = get_pipeline_settings()
    return BaselineProfiler(
        boto3.client("s3"),
        get_settings().artifact_bucket,
        max_rows=settings.baseline_max_rows,
        max_sample_size=settings.baseline_sample_size,
        build=build_with_science,
    )


@functools.cache
def version_registrar() -> VersionRegistrar:
    """`Register version`: the registry's service, acting for the run's actor, and the sample writer."""
    from cirrus_core.pipelines.registration import VersionRegistrar
    from cirrus_core.pipelines.samples import SamplePayloads
    from cirrus_core.registry.wiring import registry_service

    samples = SamplePayloads(boto3.client("s3"), get_settings().artifact_bucket)
    return VersionRegistrar(registry_service, boto3.client("sagemaker"), samples)


@functools.cache
def approvals() -> Approvals:
    """`Await approval` and `resume_pipeline`."""
    from cirrus_core.pipelines.approvals import Approvals, ApprovalWaits, StepFunctionsTokens
    from cirrus_core.registry.wiring import registry_service

    return Approvals(
        ApprovalWaits(boto3.client("dynamodb"), get_pipeline_settings().pipelines_table),
        StepFunctionsTokens(boto3.client("stepfunctions")),
        lambda model_id, version, caller: registry_service().get_version(model_id, version, caller),
        lambda model_id, version, comment, caller: registry_service().request_review(
            model_id, version, comment, caller
        ),
    )


@functools.cache
def run_notifier() -> RunNotifier:
    """`Announce start`, `Notify completion`, `Notify failure`."""
    from cirrus_core.pipelines.history import ExecutionHistory
    from cirrus_core.pipelines.run_events import RunNotifier

    return RunNotifier(
        boto3.client("events"),
        get_settings().event_bus_name,
        ExecutionHistory(boto3.client("stepfunctions")),
        step_cache(),
    )
