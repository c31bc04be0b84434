"""Pipeline definitions: the steps of a pipeline, their dependencies, parameters and resources.

A definition is what `POST /api/v1/pipelines` takes. `validate_definition` checks it as a DAG and
returns its stages (steps whose dependencies all lie in earlier stages); `compile_definition` in
`cirrus_core.pipelines.compiler` turns it into Amazon States Language.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cirrus_core.errors import InvalidPipeline
from cirrus_core.registry.models import (
    Comment,
    Environment,
    FiniteFloat,
    HyperparameterValue,
    ModelId,
    ParamKey,
    S3Uri,
)

PIPELINE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# Step ids name states and SageMaker jobs (`_` becomes `-` there), so they stay short and plain.
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
MAX_STEPS = 30
BUILTIN_PIPELINE_ID = "training"
# Columns a run may keep from the model (RunParameters.exclude_columns).
MAX_EXCLUDED_COLUMNS = 100

PipelineId = Annotated[str, StringConstraints(pattern=PIPELINE_ID_PATTERN, max_length=63)]
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN, max_length=32)]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$", max_length=32)]
EntryPoint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.py$")]
RepositoryPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){1,5}$", max_length=255)
]
BranchPattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.*/-]{1,255}$")]
StepParameters = Annotated[dict[ParamKey, HyperparameterValue], Field(max_length=100)]


class JobType(StrEnum):
    """The spec's job types. Each runs as a SageMaker job, except deployment (approval, then hand-off)."""

    DATA_PREPROCESSING = "data_preprocessing"
    FEATURE_ENGINEERING = "feature_engineering"
    MODEL_TRAINING = "model_training"
    MODEL_EVALUATION = "model_evaluation"
    MODEL_DEPLOYMENT = "model_deployment"


class ModelType(StrEnum):
    """Built-in training recipes."""

    XGBOOST = "xgboost"
    SKLEARN = "sklearn"


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepResources(_Strict):
    """Compute for one step's SageMaker job."""

    instance_type: InstanceType = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1, le=100)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=432_000)
    spot: bool = Field(default=False, description="Managed spot training (training steps only).")
    max_wait_seconds: int | None = Field(
        default=None, ge=60, le=432_000, description="Spot only: how long to wait for capacity, in all."
    )

    @model_validator(mode="after")
    def _spot_wait(self) -> StepResources:
        if self.max_wait_seconds is not None:
            if not self.spot:
                raise ValueError("max_wait_seconds applies to spot steps only")
            if self.max_wait_seconds < self.max_runtime_seconds:
                raise ValueError("max_wait_seconds must be at least max_runtime_seconds")
        return self


class StepScript(_Strict):
    """The user's own code for a step instead of the built-in recipe.

    Processing steps take an S3 prefix holding the script; training steps take a
    `sourcedir.tar.gz` (SageMaker script mode), whose entry point also serves inference.
    """

    source_uri: S3Uri
    entry_point: EntryPoint


class StepDefinition(_Strict):
    """One step of a pipeline."""

    id: StepId
    type: JobType
    depends_on: Annotated[list[StepId], Field(max_length=MAX_STEPS)] = Field(default_factory=list)
    parameters: StepParameters = Field(default_factory=dict)
    resources: StepResources = Field(default_factory=StepResources)
    script: StepScript | None = None


TriggerEvent = Literal["push", "pull_request", "merge_request", "tag"]
_PUSH_ONLY: list[TriggerEvent] = ["push"]


class TriggerRule(_Strict):
    """Which repository events start a run of this pipeline."""

    provider: Literal["github", "gitlab"]
    repository: RepositoryPath = Field(description="owner/name (GitLab: group/subgroup/name).")
    branches: Annotated[list[BranchPattern], Field(min_length=1, max_length=20)] = Field(
        default_factory=lambda: ["main"], description="Branch names or globs (`release/*`)."
    )
    events: Annotated[list[TriggerEvent], Field(min_length=1, max_length=4)] = Field(
        default_factory=lambda: _PUSH_ONLY.copy()
    )
    parameters: StepParameters = Field(
        default_factory=dict, description="Run parameters for runs this trigger starts."
    )


class PipelineDefinitionRequest(_Strict):
    """`POST /api/v1/pipelines`: create a pipeline or store a new version of its definition."""

    pipeline_id: PipelineId
    description: Comment = ""
    steps: Annotated[list[StepDefinition], Field(min_length=1, max_length=MAX_STEPS)]
    default_parameters: StepParameters = Field(
        default_factory=dict, description="Run parameters a run may override."
    )
    triggers: Annotated[list[TriggerRule], Field(max_length=20)] = Field(default_factory=list)


class RunParameters(BaseModel):
    """The spec's run parameters (`data_source`, `model_type`, `target_accuracy`) and their company.

    Unknown keys are kept: they reach the steps as parameters.
    """

    model_config = ConfigDict(extra="allow")

    data_source: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description=(
            "An s3:// URI of a CSV or Parquet object or prefix; `dataset:<name>[@<version>]`; "
            "`training-set:<id>`; or a data source's name (its latest snapshot)."
        )
    )
    model_type: ModelType = ModelType.XGBOOST
    task: Task = Task.CLASSIFICATION
    target_column: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = "label"
    # Declared after target_column: its validator reads the target from the fields validated before it.
    exclude_columns: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]],
        Field(max_length=MAX_EXCLUDED_COLUMNS),
    ] = Field(
        default_factory=list,
        description=(
            "Columns of the data that are not features (ids, timestamps, a training set's label "
            "time): the built-in preprocessing drops them before splitting, so no model sees them. "
            "Distinct names, never the target column; default_parameters and triggers may give them "
            "comma-separated (`transaction_id,label_time`)."
        ),
    )
    target_accuracy: FiniteFloat | None = Field(default=None, ge=0, le=1)
    metric: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")] | None = Field(
        default=None, description="The metric the quality gate checks (accuracy or rmse by task)."
    )
    metric_threshold: FiniteFloat | None = Field(
        default=None, description="The gate's threshold for `metric` when it is not target_accuracy."
    )
    model_name: ModelId | None = Field(default=None, description="Registry model id (the pipeline id).")
    hyperparameters: StepParameters = Field(default_factory=dict)
    use_cache: bool = Field(default=False, description="Reuse unchanged steps' earlier outputs.")
    approval_timeout_seconds: int = Field(default=7 * 86400, ge=60, le=365 * 86400)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    deploy_to: Annotated[list[Environment], Field(max_length=3)] | None = Field(
        default=None,
        description="The environments the deployment step deploys the approved version to, in order, "
        "instead of its `environments` parameter; `[]` deploys nothing.",
    )

    @field_validator("exclude_columns", mode="before")
    @classmethod
    def _split_excluded(cls, value: object) -> object:
        # Step parameters are scalars, so a definition's defaults and a trigger's parameters carry
        # the list as text; a column name holds no comma.
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("exclude_columns")
    @classmethod
    def _excluded_are_not_the_target(cls, value: list[str], info: ValidationInfo) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"exclude_columns lists {', '.join(repeated)} more than once")
        target = info.data.get("target_column")  # absent when target_column itself was refused
        if target is not None and target in value:
            raise ValueError(f"exclude_columns names the target column {target!r}: it cannot be excluded")
        return value


class DeploymentPlan(BaseModel):
    """What a `model_deployment` step deploys the approved version to, and how (its parameters).

    Step parameters are scalars, so `environments` is comma-separated (`"staging,prod"`). A
    serverless memory size makes the deployment serverless; autoscaling needs both capacities.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    environments: list[Environment] = Field(default_factory=lambda: [Environment.STAGING])
    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: int = Field(default=1, ge=1, le=20)
    serverless_memory_mb: int | None = Field(default=None, ge=1024, le=6144, multiple_of=1024)
    serverless_max_concurrency: int = Field(default=5, ge=1, le=200)
    autoscaling_min_capacity: int | None = Field(default=None, ge=1, le=20)
    autoscaling_max_capacity: int | None = Field(default=None, ge=1, le=20)
    autoscaling_target_invocations: int = Field(default=100, ge=1, le=100_000)
    data_capture_percentage: int = Field(default=100, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _split_environments(cls, values: object) -> object:
        if isinstance(values, dict) and isinstance(values.get("environments"), str):
            names = [name.strip() for name in values["environments"].split(",")]
            values = {**values, "environments": [name for name in names if name]}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentPlan:
        if len(set(self.environments)) != len(self.environments):
            raise ValueError("environments lists an environment twice")
        scaling = (self.autoscaling_min_capacity, self.autoscaling_max_capacity)
        if (scaling[0] is None) != (scaling[1] is None):
            raise ValueError("autoscaling needs both autoscaling_min_capacity and autoscaling_max_capacity")
        if scaling[0] is not None and scaling[1] is not None and scaling[0] > scaling[1]:
            raise ValueError("autoscaling_min_capacity is above autoscaling_max_capacity")
        if self.serverless_memory_mb is not None and scaling[0] is not None:
            raise ValueError("a serverless deployment takes no autoscaling (SageMaker scales it)")
        return self

    def with_environments(self, environments: list[Environment] | None) -> DeploymentPlan:
        """This plan for the run's `deploy_to`, when the run names environments."""
        return self if environments is None else self.model_copy(update={"environments": list(environments)})

    def config(self) -> dict[str, object]:
        """The deployment's `config`, as the deployment state machine takes it (docs/serving.md)."""
        serverless = (
            {"memory_size_mb": self.serverless_memory_mb, "max_concurrency": self.serverless_max_concurrency}
            if self.serverless_memory_mb is not None
            else None
        )
        autoscaling = (
            {
                "min_capacity": self.autoscaling_min_capacity,
                "max_capacity": self.autoscaling_max_capacity,
                "target_invocations_per_instance": self.autoscaling_target_invocations,
            }
            if self.autoscaling_min_capacity is not None
            else None
        )
        return {
            "instance_type": self.instance_type,
            "initial_instance_count": self.initial_instance_count,
            "serverless": serverless,
            "autoscaling": autoscaling,
            "data_capture_percentage": self.data_capture_percentage,
        }


def deployment_plan(step: StepDefinition) -> DeploymentPlan:
    """The plan of a `model_deployment` step; ValueError naming every bad parameter."""
    try:
        return DeploymentPlan.model_validate(step.parameters)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'parameters'}: {item['msg']}"
            for item in error.errors()
        )
        raise ValueError(problems) from None


# -- validation -----------------------------------------------------------------------------------

DATA_TYPES = frozenset({JobType.DATA_PREPROCESSING, JobType.FEATURE_ENGINEERING})
_SINGLETON_TYPES = (JobType.MODEL_TRAINING, JobType.MODEL_EVALUATION, JobType.MODEL_DEPLOYMENT)


def validate_definition(definition: PipelineDefinitionRequest) -> list[list[str]]:
    """Check a definition as a DAG of steps and return its stages; raise `InvalidPipeline` if it is not.

    A stage is a list of step ids, in definition order; a step's stage is one more than the latest
    stage among its dependencies (longest-path layering), so a stage's steps are independent of
    each other and run in parallel. The deployment step is in no stage: it compiles to
    `Await approval` and `Deployment hand-off`, after the version is registered.

    Every problem is reported, each as `{"step", "problem", "message"}` in the error's details:
    - `duplicate_id`: two steps share an id;
    - `unknown_dependency`: `depends_on` names a step the definition lacks;
    - `cycle`: a step depends on itself, or steps depend on each other in a loop (the message
      names the loop: `a -> b -> a` reads "a depends on b, which depends on a");
    - `structure`, the rules that give a run its meaning:
      * at most one `model_training`, one `model_evaluation` and one `model_deployment` step;
      * `data_preprocessing` reads the run's data source and depends on nothing;
      * `feature_engineering` depends on at least one step, all of them data steps
        (`data_preprocessing` or `feature_engineering`);
      * `model_training` depends on at least one data step and only on data steps (one channel each);
      * `model_evaluation` depends on the `model_training` step (the model it evaluates) and on at
        least one data step (the data it evaluates on), and on nothing else;
      * `model_deployment` depends on the `model_evaluation` step when there is one, otherwise on the
        `model_training` step, and only on those two kinds; it takes no `script` (it runs no job),
        and nothing may depend on it;
      * `resources.spot` is for `model_training` steps only;
      * `depends_on` lists a step at most once.
    So data steps come first, then training, then evaluation, then deployment.
    """
    steps = definition.steps
    problems: list[dict[str, str]] = []

    def problem(step: str, kind: str, message: str) -> None:
        item = {"step": step, "problem": kind, "message": message}
        if item not in problems:  # two steps sharing an id can break a rule the same way
            problems.append(item)

    # Duplicates: the graph below merges same-id steps, so the remaining checks still say something.
    positions: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        positions.setdefault(step.id, []).append(index + 1)
    for step_id, where in positions.items():
        if len(where) > 1:
            listed = ", ".join(str(position) for position in where)
            problem(step_id, "duplicate_id", f"step id {step_id!r} is used by {len(where)} steps ({listed})")

    types: dict[str, JobType] = {}
    graph: dict[str, list[str]] = {}
    for step in steps:
        types.setdefault(step.id, step.type)
        deps = graph.setdefault(step.id, [])
        deps.extend(dep for dep in step.depends_on if dep not in deps)

    for step in steps:
        seen: set[str] = set()
        for dep in step.depends_on:
            if dep in seen:
                problem(step.id, "structure", f"{step.id!r} lists {dep!r} more than once in depends_on")
                continue
            seen.add(dep)
            if dep == step.id:
                problem(step.id, "cycle", f"{step.id!r} depends on itself")
            elif dep not in graph:
                problem(step.id, "unknown_dependency", f"{step.id!r} depends on {dep!r}, which is not a step")

    cycles = _cycles(graph)
    for cycle in cycles:
        path = " -> ".join([*cycle, cycle[0]])
        problem(cycle[0], "cycle", f"dependency cycle {path} (each step depends on the next)")

    for step_id, message in _structure_problems(steps, types):
        problem(step_id, "structure", message)

    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        summary = "; ".join(item["message"] for item in problems)
        raise InvalidPipeline(
            f"pipeline {definition.pipeline_id!r} is invalid ({count}): {summary}", problems
        )
    return _stages(steps, graph)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One loop per strongly connected component of two or more steps (self-loops are told apart).

    Tarjan's algorithm finds the components; each loop starts at its component's first step in
    definition order and follows dependencies (within the component) in the order they are listed.
    """
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index_of[node] = low[node] = len(index_of)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in graph or dep == node:
                continue
            if dep not in index_of:
                connect(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index_of[dep])
        if low[node] == index_of[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in graph:  # at most MAX_STEPS deep: recursion is fine
        if node not in index_of:
            connect(node)

    order = list(graph)
    cycles = []
    for component in sorted(components, key=lambda members: min(order.index(m) for m in members)):
        start = min(component, key=order.index)
        cycles.append(_loop_from(start, component, graph))
    return cycles


def _loop_from(start: str, component: set[str], graph: dict[str, list[str]]) -> list[str]:
    """The shortest loop from `start` back to itself inside its component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in graph[node]:
                if dep not in component or dep == node:
                    continue
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                if dep not in previous:
                    previous[dep] = node
                    following.append(dep)
        frontier = following
    raise AssertionError(f"{start!r} is in a strongly connected component without a loop")  # pragma: no cover


def _structure_problems(steps: list[StepDefinition], types: dict[str, JobType]) -> list[tuple[str, str]]:
    """(step, message) for each broken structural rule, in definition order."""
    found: list[tuple[str, str]] = []
    first_of: dict[JobType, str] = {}
    for step in steps:
        if step.type in _SINGLETON_TYPES:
            if step.type in first_of and first_of[step.type] != step.id:
                found.append(
                    (
                        step.id,
                        f"a pipeline has at most one {step.type.value} step, and {first_of[step.type]!r} "
                        f"is one already",
                    )
                )
            first_of.setdefault(step.type, step.id)
    training = first_of.get(JobType.MODEL_TRAINING)
    evaluation = first_of.get(JobType.MODEL_EVALUATION)

    for step in steps:
        known = [dep for dep in dict.fromkeys(step.depends_on) if dep in types and dep != step.id]
        kinds = {dep: types[dep] for dep in known}
        data = [dep for dep in known if kinds[dep] in DATA_TYPES]
        # A step naming an unknown step is told so once; "needs a data step" would only repeat it.
        complete = all(dep in types for dep in step.depends_on)
        for dep in known:
            if kinds[dep] is JobType.MODEL_DEPLOYMENT:
                found.append(
                    (step.id, f"{step.id!r} depends on {dep!r}: nothing may depend on a model_deployment")
                )
        others = [dep for dep in known if kinds[dep] is not JobType.MODEL_DEPLOYMENT]

        if step.type is JobType.DATA_PREPROCESSING:
            if step.depends_on:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is data_preprocessing: it reads the run's data source and "
                        "depends on no other step (use feature_engineering to build on a data step)",
                    )
                )
        elif step.type in (JobType.FEATURE_ENGINEERING, JobType.MODEL_TRAINING):
            wrong = [dep for dep in others if dep not in data]
            if wrong:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is {step.type.value}: it may depend only on data steps "
                        f"(data_preprocessing, feature_engineering), not on {_names(wrong)}",
                    )
                )
            if not data and complete:
                found.append(
                    (step.id, f"{step.id!r} is {step.type.value}: it needs a data step to depend on")
                )
        elif step.type is JobType.MODEL_EVALUATION:
            wrong = [dep for dep in others if dep not in data and kinds[dep] is not JobType.MODEL_TRAINING]
            if wrong:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_evaluation: it may depend only on the model_training "
                        f"step and data steps, not on {_names(wrong)}",
                    )
                )
            if training is None:
                found.append(
                    (step.id, f"{step.id!r} is model_evaluation, but no model_training step makes a model")
                )
            elif training not in known:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_evaluation: it must depend on the model_training "
                        f"step {training!r}, whose model it evaluates",
                    )
                )
            if not data and complete:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_evaluation: it must depend on a data step, whose "
                        "test split it evaluates on",
                    )
                )
        elif step.type is JobType.MODEL_DEPLOYMENT:
            try:
                deployment_plan(step)
            except ValueError as error:
                found.append((step.id, f"{step.id!r} is model_deployment with bad parameters: {error}"))
            allowed = (JobType.MODEL_TRAINING, JobType.MODEL_EVALUATION)
            wrong = [dep for dep in others if kinds[dep] not in allowed]
            if wrong:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_deployment: it may depend only on the model_training "
                        f"and model_evaluation steps, not on {_names(wrong)}",
                    )
                )
            if training is None:
                found.append(
                    (step.id, f"{step.id!r} is model_deployment, but no model_training step makes a model")
                )
            elif evaluation is not None and evaluation not in known:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_deployment: it must depend on the model_evaluation "
                        f"step {evaluation!r}, so only a model that passed its quality gate is deployed",
                    )
                )
            elif evaluation is None and training not in known:
                found.append(
                    (
                        step.id,
                        f"{step.id!r} is model_deployment: it must depend on the model_training "
                        f"step {training!r}",
                    )
                )
            if step.script is not None:
                found.append(
                    (step.id, f"{step.id!r} is model_deployment: it runs no job, so it takes no script")
                )

        if step.resources.spot and step.type is not JobType.MODEL_TRAINING:
            found.append(
                (step.id, f"{step.id!r} is {step.type.value}: spot capacity is for model_training only")
            )
    return found


def _names(ids: list[str]) -> str:
    return ", ".join(repr(step_id) for step_id in ids)


def _stages(steps: list[StepDefinition], graph: dict[str, list[str]]) -> list[list[str]]:
    """Longest-path layers of an acyclic graph, deployment steps left out, definition order within."""
    stage: dict[str, int] = {}

    def stage_of(step_id: str) -> int:
        if step_id not in stage:
            stage[step_id] = 1 + max((stage_of(dep) for dep in graph[step_id]), default=-1)
        return stage[step_id]

    layers: list[list[str]] = []
    for step in steps:
        if step.type is JobType.MODEL_DEPLOYMENT:
            continue
        number = stage_of(step.id)
        while len(layers) <= number:
            layers.append([])
        layers[number].append(step.id)
    return [layer for layer in layers if layer]
