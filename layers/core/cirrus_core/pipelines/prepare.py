"""`Prepare run`: from the execution input to the working state every later state reads.

It validates the run's parameters (merged over the definition's defaults), resolves the data source
and its version, uploads the built-in recipes, writes each step's `parameters.json`, builds every
SageMaker job request, and looks each step up in the cache. Inputs are wired here once: a step
reads its upstream steps' outputs, a cached upstream step's earlier output instead of this run's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cirrus_core.errors import (
    InvalidPipeline,
    InvalidRunParameters,
    PipelineStepError,
    UnprocessableEntity,
)
from cirrus_core.pipelines.cache import TRAINING_PARAMETERS, canonical_json
from cirrus_core.pipelines.cache import cache_key as compute_cache_key
from cirrus_core.pipelines.definition import (
    DATA_TYPES,
    PIPELINE_ID_PATTERN,
    JobType,
    ModelType,
    PipelineDefinitionRequest,
    RunParameters,
    StepDefinition,
    StepScript,
    deployment_plan,
    validate_definition,
)
from cirrus_core.pipelines.evaluation import gate_for
from cirrus_core.pipelines.jobs import (
    SOURCE_CHANNEL,
    DataInput,
    ProcessingSpec,
    TrainingSpec,
    job_name,
    model_artifact_uri,
    processing_request,
    training_request,
)
from cirrus_core.pipelines.models import RunTrigger
from cirrus_core.pipelines.recipes_upload import PROCESSING_SCRIPTS, TRAINING_ENTRY_POINT
from cirrus_core.principal import ActorRecord
from cirrus_core.registry.artifacts import check_s3_uri

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_s3 import S3Client

    from cirrus_core.pipelines.cache import StepCache
    from cirrus_core.pipelines.data_sources import Dataset, DataSources
    from cirrus_core.pipelines.recipes_upload import RecipeBundle, RecipeStore
    from cirrus_core.pipelines.settings import PipelineSettings

# The output each kind of step leaves, by the key downstream steps read.
DATA_URI, MODEL_URI, EVALUATION_URI = "data_uri", "model_uri", "evaluation_uri"
EVALUATION_FILE = "evaluation.json"
PARAMETERS_FILE = "parameters.json"
# The parts of a dataset version the preprocessing step reads, relative to its source channel.
SOURCE_FILES_PARAMETER = "_source_files"
_OUTPUT_KEY = {
    JobType.DATA_PREPROCESSING: DATA_URI,
    JobType.FEATURE_ENGINEERING: DATA_URI,
    JobType.MODEL_TRAINING: MODEL_URI,
    JobType.MODEL_EVALUATION: EVALUATION_URI,
}


class ScriptUnavailable(PipelineStepError):
    """A step's own script (`script.source_uri`) does not exist or cannot be read."""

    code = "script_unavailable"


@dataclass(frozen=True)
class _Code:
    """What a step runs: for processing the code prefix and script, for training the sourcedir."""

    uri: str
    entry_point: str
    identity: str


@dataclass
class _Prepared:
    """What is known of the steps built so far, for the steps that read them."""

    keys: dict[str, str]
    outputs: dict[str, dict[str, Any]]  # the output downstream steps read (cached or this run's)
    training_code: _Code | None = None


class PrepareRun:
    """Builds a run's working state from the execution input (docs/pipelines.md)."""

    def __init__(
        self,
        *,
        settings: PipelineSettings,
        artifact_bucket: str,
        allowed_buckets: frozenset[str],
        region: str,
        s3: S3Client,
        data_sources: DataSources,
        recipes: Callable[[], RecipeBundle],
        recipe_store: RecipeStore,
        cache: StepCache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._bucket = artifact_bucket
        self._allowed = allowed_buckets
        self._region = region
        self._s3 = s3
        self._data_sources = data_sources
        self._recipes = recipes
        self._recipe_store = recipe_store
        self._cache = cache
        self._clock = clock

    def prepare(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The working state for `{"input": <execution input>, "execution": {...}}`."""
        execution_input, execution = self._event_parts(event)
        actor, trigger = _actor_and_trigger(execution_input)
        pipeline = dict(execution_input.get("pipeline") or {})
        definition = _definition(pipeline)
        pipeline_id = str(pipeline.get("pipeline_id") or definition.pipeline_id)
        if not re.fullmatch(PIPELINE_ID_PATTERN, pipeline_id):
            raise InvalidPipeline(f"pipeline_id {pipeline_id[:80]!r} is not a pipeline id.")
        stages = validate_definition(definition)
        parameters = _parameters(definition, execution_input.get("parameters"))
        has_evaluation = any(step.type is JobType.MODEL_EVALUATION for step in definition.steps)
        gate = gate_for(parameters, has_evaluation=has_evaluation)
        dataset = self._data_sources.resolve(parameters.data_source)
        bundle = self._recipes()
        self._recipe_store.upload(bundle)

        run_id = str(execution["name"])
        prefix = f"s3://{self._bucket}/pipelines/{pipeline_id}/runs/{run_id}/"
        context = _RunContext(
            pipeline_id=pipeline_id,
            run_id=run_id,
            prefix=prefix,
            parameters=parameters,
            parameter_values=parameters.model_dump(mode="json"),
            dataset=dataset,
            bundle=bundle,
            by_id={step.id: step for step in definition.steps},
        )
        prepared = _Prepared(keys={}, outputs={})
        jobs: dict[str, dict[str, Any]] = {}
        cache: dict[str, dict[str, Any]] = {}
        for step_id in (step_id for stage in stages for step_id in stage):
            step = context.by_id[step_id]
            jobs[step_id], cache[step_id] = self._prepare_step(step, context, prepared)
        for step in definition.steps:
            if step.type is JobType.MODEL_DEPLOYMENT:
                plan = deployment_plan(step).with_environments(parameters.deploy_to)
                jobs[step.id] = {
                    "kind": "deployment",
                    "environments": [environment.value for environment in plan.environments],
                    "deployment": plan.config(),
                }

        has_deployment = any(step.type is JobType.MODEL_DEPLOYMENT for step in definition.steps)
        return {
            "pipeline": pipeline,
            "parameters": context.parameter_values,
            "actor": actor,
            "trigger": trigger,
            "run": {
                "run_id": run_id,
                "execution_arn": str(execution["arn"]),
                "started_at": str(execution.get("start_time") or self._clock().isoformat()),
                "model_name": parameters.model_name or pipeline_id,
                "dataset": {"uri": dataset.uri, "version": dataset.version},
                "prefix": prefix,
            },
            "jobs": jobs,
            "cache": cache,
            "gate": gate.model_dump(mode="json") if gate is not None else None,
            "approval": {"timeout_seconds": parameters.approval_timeout_seconds} if has_deployment else None,
            "steps": {},
        }

    @staticmethod
    def _event_parts(event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        execution_input, execution = event.get("input"), event.get("execution")
        if not isinstance(execution_input, dict) or not isinstance(execution, dict):
            raise PipelineStepError("Prepare run takes {'input': <execution input>, 'execution': {...}}.")
        if not execution.get("name") or not execution.get("arn"):
            raise PipelineStepError("Prepare run needs the execution's name and ARN.")
        return execution_input, execution

    # -- one step ---------------------------------------------------------------------------------

    def _prepare_step(
        self, step: StepDefinition, context: _RunContext, prepared: _Prepared
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        model_type = context.parameters.model_type
        name = job_name(context.pipeline_id, context.run_id, step.id)
        output_prefix = f"{context.prefix}{step.id}/"
        config_prefix = f"{context.prefix}config/{step.id}/"
        data_deps = [dep for dep in step.depends_on if context.by_id[dep].type in DATA_TYPES]

        if step.type is JobType.MODEL_TRAINING:
            code = self._training_code(step, context.bundle, model_type)
            prepared.training_code = code
            image = self._image(model_type)
            output = {MODEL_URI: model_artifact_uri(output_prefix, name)}
        else:
            code = self._processing_code(step, context.bundle)
            image = (
                self._image(model_type)
                if step.type is JobType.MODEL_EVALUATION
                else self._settings.sklearn_image_uri
            )
            key = _OUTPUT_KEY[step.type]
            output = {key: f"{output_prefix}{EVALUATION_FILE}" if key == EVALUATION_URI else output_prefix}

        reads_source = step.type is JobType.DATA_PREPROCESSING
        run_parameters = context.parameter_values
        if step.type in DATA_TYPES and step.script is None:
            # The built-in data recipes never read the model's settings: retraining with other
            # hyperparameters reuses the prepared data.
            run_parameters = {
                name: value for name, value in run_parameters.items() if name not in TRAINING_PARAMETERS
            }
        key = compute_cache_key(
            step_type=step.type.value,
            step_parameters=step.parameters,
            run_parameters=run_parameters,
            script=code.identity,
            image_uri=image,
            dataset_version=context.dataset.cache_identity if reads_source else None,
            upstream={dep: prepared.keys[dep] for dep in step.depends_on if dep in prepared.keys},
        )
        cached = self._cache.lookup(key) if context.parameters.use_cache else None
        if cached is not None and not isinstance(cached.get(_OUTPUT_KEY[step.type]), str):
            cached = None  # an entry without the output this step's readers need cannot stand in
        prepared.keys[step.id] = key
        prepared.outputs[step.id] = cached if cached is not None else output

        inputs = self._inputs(step, data_deps, context, prepared)
        step_parameters = self._step_parameters(step, context, prepared)
        self._put_parameters(config_prefix, step_parameters)

        if step.type is JobType.MODEL_TRAINING:
            request = training_request(
                TrainingSpec(
                    job_name=name,
                    image_uri=image,
                    region=self._region,
                    entry_point=code.entry_point,
                    sourcedir_uri=code.uri,
                    hyperparameters=self._hyperparameters(step, context.parameters),
                    channels=inputs,
                    output_uri=output_prefix,
                    checkpoint_uri=f"{output_prefix}checkpoints/",
                    resources=step.resources,
                    metric_definitions=context.bundle.metrics_for(model_type.value),
                )
            )
            kind = "training"
        else:
            model_uri = sourcedir_uri = None
            if step.type is JobType.MODEL_EVALUATION:
                training = self._training_step(step, context)
                model_uri = prepared.outputs[training.id][MODEL_URI]
                sourcedir_uri = prepared.training_code.uri if prepared.training_code else None
            request = processing_request(
                ProcessingSpec(
                    job_name=name,
                    image_uri=image,
                    script=code.entry_point,
                    code_uri=code.uri,
                    config_uri=config_prefix,
                    inputs=inputs,
                    output_uri=output_prefix,
                    resources=step.resources,
                    environment={
                        "CIRRUS_PIPELINE_ID": context.pipeline_id,
                        "CIRRUS_RUN_ID": context.run_id,
                        "CIRRUS_STEP_ID": step.id,
                        "PYTHONUNBUFFERED": "1",
                    },
                    model_uri=model_uri,
                    sourcedir_uri=sourcedir_uri,
                )
            )
            kind = "processing"
        job = {"kind": kind, "job_name": name, "request": request, "output": output}
        return job, {"key": key, "hit": cached is not None, "output": cached}

    def _inputs(
        self, step: StepDefinition, data_deps: list[str], context: _RunContext, prepared: _Prepared
    ) -> list[DataInput]:
        """One input per upstream data step; the data source for preprocessing; evaluation also
        reads the training step's data, so that it evaluates on the splits the model was trained on."""
        if step.type is JobType.DATA_PREPROCESSING:
            return [DataInput(SOURCE_CHANNEL, context.dataset.channel)]
        names = list(data_deps)
        if step.type is JobType.MODEL_EVALUATION:
            training = self._training_step(step, context)
            names += [
                dep
                for dep in training.depends_on
                if context.by_id[dep].type in DATA_TYPES and dep not in names
            ]
        return [DataInput(dep, prepared.outputs[dep][DATA_URI]) for dep in names]

    @staticmethod
    def _training_step(step: StepDefinition, context: _RunContext) -> StepDefinition:
        for dep in step.depends_on:
            if context.by_id[dep].type is JobType.MODEL_TRAINING:
                return context.by_id[dep]
        raise InvalidPipeline(f"{step.id!r} is model_evaluation but depends on no model_training step.")

    def _step_parameters(
        self, step: StepDefinition, context: _RunContext, prepared: _Prepared
    ) -> dict[str, Any]:
        """parameters.json: the step's parameters over the run's, and which run and step this is."""
        values: dict[str, Any] = {**context.parameter_values, **step.parameters}
        values.update({"_step_id": step.id, "_pipeline_id": context.pipeline_id, "_run_id": context.run_id})
        if step.type is JobType.DATA_PREPROCESSING and context.dataset.files:
            # A dataset version is exactly its parts: the step reads these, not whatever else lies
            # under the channel's prefix.
            values[SOURCE_FILES_PARAMETER] = list(context.dataset.files)
        if step.type is JobType.MODEL_EVALUATION and prepared.training_code is not None:
            values["entry_point"] = prepared.training_code.entry_point
            values["_training_step"] = self._training_step(step, context).id
        return values

    def _put_parameters(self, config_prefix: str, values: dict[str, Any]) -> None:
        bucket, _, key = config_prefix.removeprefix("s3://").partition("/")
        self._s3.put_object(
            Bucket=bucket,
            Key=f"{key}{PARAMETERS_FILE}",
            Body=canonical_json(values).encode(),
            ContentType="application/json",
        )

    @staticmethod
    def _hyperparameters(step: StepDefinition, parameters: RunParameters) -> dict[str, Any]:
        """The training script's hyperparameters: the run's basics, its hyperparameters, the step's."""
        base: dict[str, Any] = {
            "target_column": parameters.target_column,
            "task": parameters.task.value,
            "seed": parameters.seed,
        }
        return {**base, **parameters.hyperparameters, **step.parameters}

    def _image(self, model_type: ModelType) -> str:
        if model_type is ModelType.XGBOOST:
            return self._settings.xgboost_image_uri
        return self._settings.sklearn_image_uri

    # -- code -------------------------------------------------------------------------------------

    def _processing_code(self, step: StepDefinition, bundle: RecipeBundle) -> _Code:
        if step.script is None:
            script = PROCESSING_SCRIPTS[step.type]
            return _Code(
                uri=bundle.processing_uri(self._bucket),
                entry_point=script,
                identity=f"recipe:{bundle.script_identity(script)}",
            )
        uri = self._checked_script_uri(step.id, step.script, prefix_allowed=True)
        digest = self._data_sources.prefix_digest(uri)
        if digest is None:
            raise ScriptUnavailable(
                f"step {step.id!r}: no objects under its script.source_uri {uri}.",
                [{"step": step.id, "field": "script.source_uri"}],
            )
        return _Code(
            uri=uri, entry_point=step.script.entry_point, identity=f"{uri}@{digest}#{step.script.entry_point}"
        )

    def _training_code(self, step: StepDefinition, bundle: RecipeBundle, model_type: ModelType) -> _Code:
        if step.script is None:
            return _Code(
                uri=bundle.sourcedir_uri(self._bucket, model_type.value),
                entry_point=TRAINING_ENTRY_POINT,
                identity=f"recipe:{bundle.training_identity(model_type.value)}",
            )
        uri = self._checked_script_uri(step.id, step.script, prefix_allowed=False)
        version = self._data_sources.object_etag(uri)
        if version is None:
            raise ScriptUnavailable(
                f"step {step.id!r}: its script.source_uri {uri} does not exist.",
                [{"step": step.id, "field": "script.source_uri"}],
            )
        return _Code(
            uri=uri,
            entry_point=step.script.entry_point,
            identity=f"{uri}@{version}#{step.script.entry_point}",
        )

    def _checked_script_uri(self, step_id: str, script: StepScript, *, prefix_allowed: bool) -> str:
        uri = script.source_uri
        try:
            check_s3_uri(
                uri, self._allowed, field=f"steps.{step_id}.script.source_uri", prefix_allowed=prefix_allowed
            )
        except UnprocessableEntity as error:
            raise ScriptUnavailable(error.message, error.details) from error
        return uri


@dataclass(frozen=True)
class _RunContext:
    pipeline_id: str
    run_id: str
    prefix: str
    parameters: RunParameters
    parameter_values: dict[str, Any]
    dataset: Dataset
    bundle: RecipeBundle
    by_id: dict[str, StepDefinition]


def _actor_and_trigger(execution_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input's actor and trigger as given, once they are known to be well formed."""
    actor, trigger = execution_input.get("actor"), execution_input.get("trigger")
    try:
        ActorRecord.model_validate(actor)
        RunTrigger.model_validate(trigger)
    except ValidationError as error:
        raise PipelineStepError(
            "The execution input's actor or trigger is malformed.",
            [{"field": ".".join(map(str, item["loc"])), "message": item["msg"]} for item in error.errors()],
        ) from error
    if not isinstance(actor, dict) or not isinstance(trigger, dict):  # pragma: no cover - validated above
        raise PipelineStepError("The execution input's actor and trigger must be objects.")
    return dict(actor), dict(trigger)


def _definition(pipeline: Mapping[str, Any]) -> PipelineDefinitionRequest:
    try:
        return PipelineDefinitionRequest.model_validate(pipeline.get("definition"))
    except ValidationError as error:
        raise InvalidPipeline(
            "The run's pipeline definition does not validate.",
            [{"field": ".".join(map(str, item["loc"])), "message": item["msg"]} for item in error.errors()],
        ) from error


def _parameters(definition: PipelineDefinitionRequest, given: Any) -> RunParameters:
    """The run's parameters over the definition's defaults, validated."""
    if given is not None and not isinstance(given, dict):
        raise InvalidRunParameters("parameters must be an object.", [{"field": "parameters"}])
    merged = {**definition.default_parameters, **(given or {})}
    try:
        return RunParameters.model_validate(merged)
    except ValidationError as error:
        details = [
            {"field": ".".join(map(str, item["loc"])), "message": item["msg"], "type": item["type"]}
            for item in error.errors()
        ]
        fields = ", ".join(sorted({detail["field"] for detail in details}))
        raise InvalidRunParameters(f"The run's parameters do not validate ({fields}).", details) from error
