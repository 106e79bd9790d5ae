"""The pipeline execution role: what SageMaker runs the pipeline's executions and jobs as.

Its own statements here are what any SageMaker job of the pipeline needs (start and watch its jobs,
pull the scikit-learn image, write logs and metrics, pass itself to the jobs). The permissions on
what other constructs create are granted by those constructs (`storage.grant_…`, `emr.grant_run_etl`,
...), through the same `RolePermissions` (stacks/iam.py), into one managed policy per concern: a
managed policy holds at most 6,144 characters.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from constructs import Construct

from stacks.iam import RolePermissions, service_role

# SageMaker Pipelines names the jobs it starts `pipelines-<execution id>-<step name>-<suffix>`.
PIPELINE_JOB_NAME_PREFIX = "pipelines-"
# The role's managed policies, by concern.
JOBS_POLICY, DATA_POLICY, EMR_STEP_POLICY = "Jobs", "Data", "EmrStep"


def sklearn_image_repository_arn(uri: str, region: str) -> str:
    """ARN of the AWS-owned ECR repository of the SageMaker scikit-learn image `uri` in `region`."""
    registry, _, repository_and_tag = uri.partition("/")
    account = registry.split(".", 1)[0]
    repository = repository_and_tag.split(":", 1)[0]
    return f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/{repository}"


def allow_pull_sklearn_image(to: RolePermissions, image_repository_arn: str) -> None:
    """What SageMaker does with a role to run the scikit-learn image: log in to ECR and pull from its repository."""
    to.allow(
        "PullSklearnImage",
        ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        [image_repository_arn],
    )
    to.allow(
        "EcrLogin",
        ["ecr:GetAuthorizationToken"],
        ["*"],
        wildcard_reason="ecr:GetAuthorizationToken supports no resource-level permissions (it returns a registry login token).",
    )


def allow_sagemaker_metrics(to: RolePermissions, sid: str) -> None:
    """Publish metrics in SageMaker's namespaces (jobs and endpoints put theirs with the role they run as)."""
    to.allow(
        sid,
        ["cloudwatch:PutMetricData"],
        ["*"],
        conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        wildcard_reason=(
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
            "/aws/sagemaker/* metric namespaces by condition."
        ),
    )


class PipelineRole(Construct):
    """The execution role of the pipeline and of its processing and training jobs."""

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, image_repository_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.role = service_role(
            self,
            "ExecutionRole",
            "sagemaker.amazonaws.com",
            f"{name_prefix}: SageMaker pipeline execution role and its jobs' role",
        )
        self.permissions = RolePermissions(self, self.role, description_prefix=name_prefix, policy=JOBS_POLICY)
        self._allow_jobs(image_repository_arn)

    @property
    def data(self) -> RolePermissions:
        """Grants on the environment's buckets, key and step code."""
        return self.permissions.concern(DATA_POLICY)

    @property
    def emr_step(self) -> RolePermissions:
        """Grants for the EMR step."""
        return self.permissions.concern(EMR_STEP_POLICY)

    def _allow_jobs(self, image_repository_arn: str) -> None:
        stack = Stack.of(self)
        allow = self.permissions.allow
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{PIPELINE_JOB_NAME_PREFIX}*")
            for kind in ("processing-job", "training-job")
        ]
        allow(
            "RunPipelineJobs",
            [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            jobs,
            wildcard_reason=(
                "SageMaker Pipelines names each processing and training job it starts pipelines-<execution id>-"
                "<step>-<suffix> at execution time; the statement is limited to that name prefix in this region "
                "and account."
            ),
        )
        allow(
            "PassOwnRoleToJobs",
            ["iam:PassRole"],
            [self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        allow_pull_sklearn_image(self.permissions, image_repository_arn)
        allow(
            "JobLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [
                f"arn:{Aws.PARTITION}:logs:{region_account}:log-group:/aws/sagemaker/ProcessingJobs:*",
                f"arn:{Aws.PARTITION}:logs:{region_account}:log-group:/aws/sagemaker/TrainingJobs:*",
            ],
            wildcard_reason=(
                "SageMaker jobs log to one stream per job in the fixed /aws/sagemaker/ProcessingJobs and "
                "/aws/sagemaker/TrainingJobs groups; stream names are created per job, so only the streams are wildcarded."
            ),
        )
        allow_sagemaker_metrics(self.permissions, "JobMetrics")
