"""Every AWS call the deployed system makes at run time, each with the principal that makes it and the ARN it
touches, derived from the synthesized template and its resolved pipeline definition.

Where the calls come from:
- The steps' requests (contract_support: the definition resolved for the defaults and each schedule's
  parameters, and every evaluation report): what SageMaker Pipelines does with the pipeline role for each step
  (create, tag, describe and stop the job, pass the role; for an EMR step start the cluster or add the step,
  pass the EMR roles, watch and stop them), and what the job does with the role: every S3 input and output the
  request names, the image pull, logs and metrics, the KMS keys it names, the VPC network interfaces.
- The steps' own boto3 calls: the step module a processing job runs (its container arguments name it) is read
  for the registry functions it calls, and `pipeline_steps/registry.py` for the boto3 calls each makes.
- EMR: the step's spark-submit arguments (code, input, output), the cluster's log URI, security
  configuration, subnet and security groups; the EMR service role's EC2 and KMS calls for them.
- EventBridge Scheduler: each schedule's target and dead-letter queue; EventBridge: each rule's SNS target;
  CloudWatch: each alarm's SNS action.
- The endpoint (stacks/endpoint.py): EventBridge invoking the deployer function (and its dead-letter queue), what
  the function does as its role (endpoint_deployer: the registry, the endpoint, its models and configurations,
  passing the model role, the alerts topic, its own dead letters and logs), and what SageMaker does as the
  endpoint's model role (the image, the model archive, the endpoint's logs and metrics).
- The prediction report's PutMetricData (`metrics.put` in the step module), in its --metrics-namespace.
- Each service assuming the role it was passed (the trust policies).

Where AWS's documents, not the template, say that a service makes a call, the call's `why` names the document
(the constants below). What no document shows (the exact names SageMaker and EMR give the objects, log streams,
clusters and network interfaces they create) is filled in with a plausible value of the documented shape;
the policies scope these by prefix, so any such name decides alike.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name
from contract_support import DeployedApp, ResolvedStep, executions
from iam_access import AccessModel, Call, assumed, role_of, unique
from infra_support import PROJECT_ROOT

import pipeline_steps.__main__ as step_commands
from pipeline_steps import etl

# --- The documents that say a service makes a call (each call's `why` names one) ---------------------------
SAGEMAKER_ROLES = (
    "SageMaker developer guide, 'SageMaker Roles' (sagemaker-roles.html), CreateProcessingJob and CreateTrainingJob "
    "API: Execution Role Permissions"
)
PASS_ROLE = SAGEMAKER_ROLES + ", 'Passing Roles': iam:PassRole with CreateProcessingJob and CreateTrainingJob"
PIPELINE_ROLE = "CreatePipeline API reference, RoleArn: 'the role used by the pipeline to access and create resources'"
STEP_PROPERTIES = (
    "SageMaker developer guide, 'Pipelines steps', step properties: a step's properties are the response of the "
    "Describe* call of the job or model package it creates"
)
STOP = "StopPipelineExecution API reference: stopping an execution stops the job or EMR step its running step started"
PIPELINE_TAGS = (
    "Pipelines tags the jobs it starts (sagemaker:pipeline-execution-arn, sagemaker:pipeline-step-name); tags given "
    "at creation are authorized as sagemaker:AddTags (SageMaker developer guide, 'Provide permissions for tagging "
    "SageMaker AI resources')"
)
PIPELINES_EMR = "AWS managed policy AmazonSageMakerPipelinesIntegrations (v3): what Pipelines does for an EMR step"
EMR_CLEANUP_ROLE = (
    "EMR management guide, 'Using service-linked roles for Amazon EMR (AWSServiceRoleForEMRCleanup)': the principal "
    "that starts an account's first cluster creates it"
)
SSE_KMS = (
    "Amazon S3 user guide, 'Using server-side encryption with AWS KMS keys (SSE-KMS)': reading an object needs "
    "kms:Decrypt, writing kms:GenerateDataKey (and kms:Decrypt for a multipart upload)"
)
JOB_LOGS = (
    "SageMaker developer guide, 'Log Amazon SageMaker AI events with Amazon CloudWatch': log groups "
    "/aws/sagemaker/ProcessingJobs and /aws/sagemaker/TrainingJobs, a stream <job name>/algo-<n>-<epoch> per "
    "instance; CloudWatch Logs API reference, LogGroup.arn: IAM authorizes log-group actions against the group's "
    "ARN with a trailing ':*' (the AccessDenied message names 'log-group:<name>:log-stream:')"
)
JOB_METRICS = (
    "SageMaker developer guide, 'Amazon SageMaker AI metrics in Amazon CloudWatch': namespaces "
    "/aws/sagemaker/ProcessingJobs and /aws/sagemaker/TrainingJobs"
)
REGISTRY_CALLS = "the step's own boto3 calls (pipeline_steps/registry.py, SageMakerRegistry)"
PREDICTION_METRICS = (
    "the step's own boto3 call (pipeline_steps/metrics.py, put): PutMetricData in its --metrics-namespace; "
    "Service Authorization Reference, CloudWatch: PutMetricData takes no resource and the cloudwatch:namespace key"
)
ALARMS_TO_SNS = (
    "Amazon SNS developer guide, 'Key management': CloudWatch alarms publishing to an encrypted topic need "
    "kms:GenerateDataKey* and kms:Decrypt in the key policy; CloudWatch states aws:SourceAccount and aws:SourceArn "
    "(the alarm's ARN)"
)
EMR_INSTANCE_ROLE = (
    "EMR management guide, 'Service role for cluster EC2 instances (EC2 instance profile)': EMRFS reads and writes "
    "S3 as the instance profile's role"
)
EMR_LOGS = (
    "EMR management guide, 'Configure cluster logging and debugging': the nodes upload logs to LogUri/<cluster id>/"
)
EMR_KMS = (
    "EMR management guide, 'Create keys and certificates for data encryption with Amazon EMR', Using AWS KMS keys "
    "for encryption: the instance profile's role is a key user of the EMRFS SSE-KMS and local disk keys; with EBS "
    "encryption the EMR service role is a key user too and grants the key to the volumes (kms:GrantIsForAWSResource)"
)
EMR_SERVICE_ROLE = (
    "EMR management guide, 'Service role for Amazon EMR (EMR role)': AmazonEMRServicePolicy_v2 launches instances "
    "and attaches network interfaces only in subnets and security groups tagged "
    "for-use-with-amazon-emr-managed-policies=true, and manages the EMR-managed security groups' rules"
)
EMR_PASS_INSTANCE_ROLE = (
    "EMR launches the cluster's instances with the instance profile: the service role passes its role to EC2"
)
SCHEDULER = (
    "EventBridge Scheduler user guide, 'Set up the execution role': the target's action "
    "(sagemaker:StartPipelineExecution) and sqs:SendMessage to the dead-letter queue"
)
ENCRYPTED_QUEUE = "Amazon SQS developer guide, 'Key management': a producer to an encrypted queue needs kms:GenerateDataKey and kms:Decrypt"
EVENTS_TO_SNS = (
    "EventBridge user guide, 'Resource-based policies for Amazon SNS': the topic policy lets events.amazonaws.com "
    "publish; Amazon SNS developer guide, 'Key management': a service that publishes to an encrypted topic needs "
    "kms:GenerateDataKey* and kms:Decrypt in the key policy"
)
ASSUME_ROLE = (
    "the service assumes the role it was passed; IAM user guide, 'The confused deputy problem': the service "
    "states aws:SourceAccount (Lambda too: AWS Lambda developer guide, 'Working with AWS managed policies in the "
    "execution role')"
)
AWS_IMAGE = "AWS's SageMaker scikit-learn image repository (its policy is AWS's)"
EVENTS_TO_LAMBDA = (
    "EventBridge user guide, 'Using resource-based policies for Amazon EventBridge', Lambda permissions: EventBridge "
    "invokes a function target asynchronously as events.amazonaws.com, allowed by the function's policy for the rule"
)
EVENTS_DEAD_LETTERS = (
    "EventBridge user guide, 'Using dead-letter queues to process undelivered events': EventBridge sends what it "
    "could not deliver to the target's queue, allowed by the queue policy for the rule (and the queue's key)"
)
LAMBDA_ROLE = (
    "AWS Lambda developer guide, 'Defining Lambda function permissions with an execution role': the function calls "
    "AWS as its execution role; 'Sending Lambda function logs to CloudWatch Logs': logs:CreateLogStream and "
    "logs:PutLogEvents on its log group; 'Dead-letter queues': Lambda sends a failed asynchronous event to the "
    "function's queue with the execution role"
)
DEPLOYER = "the endpoint deployer's own boto3 calls (endpoint_deployer/deployer.py)"
DEPLOY_GUARDRAILS = (
    "SageMaker developer guide, 'Auto-Rollback Configuration and Monitoring': the caller of UpdateEndpoint needs "
    "cloudwatch:DescribeAlarms on the rollback alarms"
)
ENDPOINT_MODEL_ROLE = (
    "SageMaker developer guide, 'SageMaker Roles', CreateModel API: Execution Role Permissions (the image, the model "
    "archive, logs and metrics); 'Log Amazon SageMaker AI events with Amazon CloudWatch': /aws/sagemaker/Endpoints/"
    "<endpoint>, a stream <variant>/<instance> per instance"
)
ALARMS_TO_SNS = (
    "Amazon SNS developer guide, 'Key management', compatibility with AWS services: CloudWatch alarms publish as "
    "cloudwatch.amazonaws.com with aws:SourceAccount and aws:SourceArn, and need the topic key's GenerateDataKey* "
    "and Decrypt"
)

# Services that state aws:SourceAccount when they assume a role (EC2 assumes the instance role for the instance).
SOURCE_ACCOUNT_SERVICES = {"sagemaker.amazonaws.com", "elasticmapreduce.amazonaws.com", "scheduler.amazonaws.com"}
TLS = {"aws:SecureTransport": "true"}  # every SDK and service call here is HTTPS
EMR_MANAGED_TAG = "for-use-with-amazon-emr-managed-policies"
# Plausible names of things AWS creates, in their documented shapes.
CLUSTER_ID = "j-2AXXXXXXGAPLF"
NETWORK_INTERFACE = "eni-0123456789abcdef0"
LOG_STREAM_SUFFIX = "algo-1-1765072804"
OBJECT_UNDER_PREFIX = "part-00000.parquet"


# --- ARNs -----------------------------------------------------------------------------------------------------


def s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def object_arn(uri: str) -> str:
    return "arn:aws:s3:::" + uri[len("s3://") :]


def within(uri: str, name: str) -> str:
    return uri.rstrip("/") + "/" + name


def names_an_object(uri: str) -> bool:
    """A URI whose last segment is a file name (has an extension): an S3Prefix input of it lists that one object."""
    return "." in uri.rstrip("/").rsplit("/", 1)[-1] and not uri.endswith("/")


class Calls:
    """The calls of one environment's template, in the order they are derived."""

    def __init__(self, template: dict, env: str, region: str) -> None:
        self.app = DeployedApp.of(template, env, region)
        self.model = AccessModel.of(template, region)
        self.region = region
        self.account = self.model.account
        self.found: list[Call] = []

    def arn(self, service: str, resource: str, account: str | None = None) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account if account is None else account}:{resource}"

    def add(
        self,
        principal: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        *,
        why: str,
        origin: str,
        foreign: str = "",
    ) -> None:
        self.found.append(Call.of(principal, action, resource, context, why=why, origin=origin, foreign=foreign))

    def all(self) -> list[Call]:
        for _, steps in executions(self.app):
            for step in steps:
                self.step(step)
        for cluster in self.model.emr_clusters:
            self.emr_cluster(cluster, origin="AWS::EMR::Cluster (standing)")
        self.schedules()
        self.alerts()
        self.endpoint()
        self.alarms()
        self.role_assumptions()
        return unique(self.found)

    # --- S3 and KMS, as any principal ---------------------------------------------------------------------

    def s3_key_of(self, uri: str, named_key: str | None = None) -> str | None:
        return named_key or self.model.bucket_keys.get(s3_parts(uri)[0])

    def read(self, principal: str, uri: str, *, origin: str, why: str, listed: bool, key: str | None = None) -> None:
        """Read `uri` (one object, or the objects under a prefix: then ListBucket on the prefix first)."""
        bucket, prefix = s3_parts(uri)
        if listed:
            self.add(
                principal,
                "s3:ListBucket",
                f"arn:aws:s3:::{bucket}",
                {"s3:prefix": prefix, **TLS},
                why=why,
                origin=origin,
            )
        obj = uri if not listed or names_an_object(uri) else within(uri, OBJECT_UNDER_PREFIX)
        self.add(principal, "s3:GetObject", object_arn(obj), TLS, why=why, origin=origin)
        self.kms(principal, ["kms:Decrypt"], self.s3_key_of(uri, key), uri, why=SSE_KMS, origin=origin)

    def write(self, principal: str, obj: str, *, origin: str, why: str, key: str | None = None) -> None:
        self.add(principal, "s3:PutObject", object_arn(obj), TLS, why=why, origin=origin)
        self.kms(
            principal, ["kms:GenerateDataKey", "kms:Decrypt"], self.s3_key_of(obj, key), obj, why=SSE_KMS, origin=origin
        )

    def kms(
        self,
        principal: str,
        actions: list[str],
        key_arn: str | None,
        uri: str | None = None,
        *,
        why: str,
        origin: str,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        if key_arn is None:
            return
        via = {"kms:ViaService": f"s3.{self.region}.amazonaws.com"} if uri else {}
        for action in actions:
            self.add(principal, action, key_arn, {**via, **(context or {})}, why=why, origin=origin)

    # --- The steps --------------------------------------------------------------------------------------------

    def step(self, step: ResolvedStep) -> None:
        origin = f"{self.app.env} step {step.name}"
        for request in step.requests:
            handler = {
                "CreateProcessingJob": self.processing_job,
                "CreateTrainingJob": self.training_job,
                "CreateModelPackage": self.model_package,
                "RunJobFlow": self.emr_step,
                "AddJobFlowSteps": self.emr_step,
            }[request.operation]
            handler(request.operation, request.params, origin)

    def sagemaker_job(self, operation: str, kind: str, params: dict, name: str, origin: str) -> str:
        """What Pipelines does with the role for a job: create, tag, watch and stop it, pass the role to it."""
        role = params["RoleArn"]
        pipelines = assumed(role, "SageMaker")
        job = self.arn("sagemaker", f"{kind}/{name.lower()}")  # SageMaker ARNs hold the name in lower case
        self.add(pipelines, f"sagemaker:{operation}", job, why=PIPELINE_ROLE, origin=origin)
        self.add(pipelines, "sagemaker:AddTags", job, why=PIPELINE_TAGS, origin=origin)
        noun = operation.removeprefix("Create")
        self.add(pipelines, f"sagemaker:Describe{noun}", job, why=STEP_PROPERTIES, origin=origin)
        self.add(pipelines, f"sagemaker:Stop{noun}", job, why=STOP, origin=origin)
        self.add(
            pipelines,
            "iam:PassRole",
            role,
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            why=PASS_ROLE,
            origin=origin,
        )
        return pipelines

    def image_pull(self, principal: str, image: str, *, why: str, origin: str) -> None:
        """A SageMaker role pulling its container image from ECR (here AWS's scikit-learn repository)."""
        registry, _, repository = image.partition("/")
        repository_arn = self.arn("ecr", f"repository/{repository.split(':', 1)[0]}", registry.split(".", 1)[0])
        self.add(principal, "ecr:GetAuthorizationToken", "*", why=why, origin=origin)
        for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
            self.add(principal, action, repository_arn, why=why, origin=origin, foreign=AWS_IMAGE)

    def container_logs(self, principal: str, log_group: str, stream: str, *, why: str, origin: str) -> None:
        """A SageMaker role writing its container's output to CloudWatch Logs, in `stream` of `log_group`."""
        group = self.arn("logs", f"log-group:{log_group}")
        for action in ("logs:CreateLogGroup", "logs:DescribeLogStreams"):
            self.add(principal, action, f"{group}:log-stream:", why=why, origin=origin)
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self.add(principal, action, f"{group}:log-stream:{stream}", why=why, origin=origin)

    def job_runtime(
        self,
        principal: str,
        image: str,
        job_name: str,
        log_group: str,
        origin: str,
        *,
        volume_key: str | None,
        vpc: Mapping[str, Any] | None,
    ) -> None:
        """What every SageMaker job does as its role: pull the image, log, put metrics, key its volume, use the VPC."""
        self.image_pull(principal, image, why=SAGEMAKER_ROLES, origin=origin)
        self.container_logs(principal, log_group, f"{job_name}/{LOG_STREAM_SUFFIX}", why=JOB_LOGS, origin=origin)
        self.add(
            principal,
            "cloudwatch:PutMetricData",
            "*",
            {"cloudwatch:namespace": log_group},
            why=JOB_METRICS,
            origin=origin,
        )
        self.kms(
            principal,
            ["kms:CreateGrant"],
            volume_key,
            context={"kms:GrantIsForAWSResource": "true"},
            why=SAGEMAKER_ROLES + ": a volume KMS key needs kms:CreateGrant",
            origin=origin,
        )
        if vpc:
            self.job_network(principal, vpc, origin)

    def job_network(self, principal: str, vpc: Mapping[str, Any], origin: str) -> None:
        why = SAGEMAKER_ROLES + ": a job in a VPC"
        eni = self.arn("ec2", f"network-interface/{NETWORK_INTERFACE}")
        for resource in [
            eni,
            *(self.arn("ec2", f"subnet/{s}") for s in vpc["Subnets"]),
            *(self.arn("ec2", f"security-group/{g}") for g in vpc["SecurityGroupIds"]),
        ]:
            self.add(principal, "ec2:CreateNetworkInterface", resource, why=why, origin=origin)
        for action in (
            "CreateNetworkInterfacePermission",
            "DeleteNetworkInterface",
            "DeleteNetworkInterfacePermission",
        ):
            self.add(principal, f"ec2:{action}", eni, why=why, origin=origin)
        for action in ("NetworkInterfaces", "Vpcs", "DhcpOptions", "Subnets", "SecurityGroups"):
            self.add(principal, f"ec2:Describe{action}", "*", why=why, origin=origin)

    def processing_job(self, operation: str, params: dict, origin: str) -> None:
        job = self.sagemaker_job(operation, "processing-job", params, params["ProcessingJobName"], origin)
        cluster = params["ProcessingResources"]["ClusterConfig"]
        self.job_runtime(
            job,
            params["AppSpecification"]["ImageUri"],
            params["ProcessingJobName"],
            "/aws/sagemaker/ProcessingJobs",
            origin,
            volume_key=cluster.get("VolumeKmsKeyId"),
            vpc=params.get("NetworkConfig", {}).get("VpcConfig"),
        )
        for source in params.get("ProcessingInputs", []):
            s3 = source["S3Input"]
            self.read(
                job,
                s3["S3Uri"],
                listed=s3["S3DataType"] == "S3Prefix",
                origin=origin,
                why=SAGEMAKER_ROLES + f": ProcessingInputs {source['InputName']}",
            )
        output_config = params.get("ProcessingOutputConfig", {})
        output_key = output_config.get("KmsKeyId")
        for output in output_config.get("Outputs", []):
            self.write(
                job,
                within(output["S3Output"]["S3Uri"], OBJECT_UNDER_PREFIX),
                key=output_key,
                origin=origin,
                why=SAGEMAKER_ROLES + f": ProcessingOutputConfig {output['OutputName']}",
            )
        if output_key:
            self.kms(
                job,
                ["kms:Encrypt"],
                output_key,
                why=SAGEMAKER_ROLES + ": a KMS key in the output configuration",
                origin=origin,
            )
        self.step_code_calls(job, params["AppSpecification"].get("ContainerArguments", []), origin)

    def training_job(self, operation: str, params: dict, origin: str) -> None:
        job = self.sagemaker_job(operation, "training-job", params, params["TrainingJobName"], origin)
        resources = params["ResourceConfig"]
        self.job_runtime(
            job,
            params["AlgorithmSpecification"]["TrainingImage"],
            params["TrainingJobName"],
            "/aws/sagemaker/TrainingJobs",
            origin,
            volume_key=resources.get("VolumeKmsKeyId"),
            vpc=params.get("VpcConfig"),
        )
        for channel in params.get("InputDataConfig", []):
            s3 = channel["DataSource"]["S3DataSource"]
            self.read(
                job,
                s3["S3Uri"],
                listed=s3["S3DataType"] == "S3Prefix",
                origin=origin,
                why=SAGEMAKER_ROLES + f": InputDataConfig {channel['ChannelName']}",
            )
        submit = json.loads(params.get("HyperParameters", {}).get("sagemaker_submit_directory", "null"))
        if submit:
            self.read(
                job,
                submit,
                listed=False,
                origin=origin,
                why="the training toolkit downloads sagemaker_submit_directory as the job's role",
            )
        output = params["OutputDataConfig"]
        artifact = within(output["S3OutputPath"], f"{params['TrainingJobName']}/output/model.tar.gz")
        self.write(
            job,
            artifact,
            key=output.get("KmsKeyId"),
            origin=origin,
            why=SAGEMAKER_ROLES + ": OutputDataConfig.S3OutputPath/<job>/output/model.tar.gz",
        )
        if output.get("KmsKeyId"):
            self.kms(
                job,
                ["kms:Encrypt"],
                output["KmsKeyId"],
                why=SAGEMAKER_ROLES + ": OutputDataConfig.KmsKeyId",
                origin=origin,
            )

    def model_package(self, operation: str, params: dict, origin: str) -> None:
        pipelines = assumed(self.app.pipeline["RoleArn"], "SageMaker")
        package = self.registered_package_arn(params["ModelPackageGroupName"])
        self.add(pipelines, "sagemaker:CreateModelPackage", package, why=PIPELINE_ROLE, origin=origin)
        self.add(pipelines, "sagemaker:DescribeModelPackage", package, why=STEP_PROPERTIES, origin=origin)

    def registered_package_arn(self, group: str) -> str:
        return self.arn("sagemaker", f"model-package/{group.lower()}/1")

    # --- The steps' own calls -----------------------------------------------------------------------------

    def step_code_calls(self, principal: str, arguments: list[str], origin: str) -> None:
        """The boto3 calls of the step module the container runs, on the resources a registered model names."""
        if not arguments or arguments[0] not in step_commands.STEPS:
            return
        module = step_commands.STEPS[arguments[0]]
        if "put" in functions_called(module, "metrics"):
            namespace = arguments[arguments.index("--metrics-namespace") + 1]
            self.add(
                principal,
                "cloudwatch:PutMetricData",
                "*",
                {"cloudwatch:namespace": namespace, **TLS},
                why=PREDICTION_METRICS,
                origin=origin,
            )
        register = self.register_model_request()
        for function in functions_called(module, "registry"):
            for service, operation in registry_operations(function):
                action = f"{service}:{operation}"
                if operation == "ListModelPackages":  # a list call: IAM authorizes it on "*"
                    self.add(principal, action, "*", why=REGISTRY_CALLS, origin=origin)
                elif operation == "DescribeModelPackage":
                    group = register["ModelPackageGroupName"]
                    self.add(principal, action, self.registered_package_arn(group), why=REGISTRY_CALLS, origin=origin)
                elif (service, operation, function) == ("s3", "GetObject", "latest_approved_model"):
                    metrics = register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
                    self.read(
                        principal, metrics, listed=False, why=REGISTRY_CALLS + ": the model's metrics", origin=origin
                    )
                elif (service, operation, function) == ("s3", "GetObject", "fetch"):
                    model = register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
                    self.read(principal, model, listed=False, why=REGISTRY_CALLS + ": the model archive", origin=origin)
                else:
                    raise KeyError(f"registry.{function} calls {action}: say which resource it touches")

    def register_model_request(self) -> dict:
        """The CreateModelPackage request of the definition: what a registered model's description names."""
        for _, steps in executions(self.app):
            for step in steps:
                for request in step.requests:
                    if request.operation == "CreateModelPackage":
                        return request.params
        raise LookupError("the definition registers no model")

    # --- EMR ----------------------------------------------------------------------------------------------

    def emr_step(self, operation: str, params: dict, origin: str) -> None:
        pipelines = assumed(self.app.pipeline["RoleArn"], "SageMaker")
        cluster = self.arn("elasticmapreduce", f"cluster/{params.get('JobFlowId', CLUSTER_ID)}")
        for rule in (
            "SageMakerPipelineExecutionEMRStepStatusUpdateRule",
            "SageMakerPipelineExecutionEMRClusterStatusUpdateRule",
        ):
            for action in ("events:PutRule", "events:PutTargets", "events:DescribeRule"):
                self.add(pipelines, action, self.arn("events", f"rule/{rule}"), why=PIPELINES_EMR, origin=origin)
        watch = ["DescribeCluster", "DescribeStep", "ListSteps", "CancelSteps"]
        if operation == "RunJobFlow":
            self.add(pipelines, "elasticmapreduce:RunJobFlow", "*", why=PIPELINES_EMR, origin=origin)
            self.add(
                pipelines,
                "iam:CreateServiceLinkedRole",
                f"arn:aws:iam::{self.account}:role/aws-service-role/elasticmapreduce.amazonaws.com/"
                "AWSServiceRoleForEMRCleanup",
                {"iam:AWSServiceName": "elasticmapreduce.amazonaws.com"},
                why=EMR_CLEANUP_ROLE,
                origin=origin,
            )
            service_role = self.model.role_arns[params["ServiceRole"]]
            instance_role = self.model.instance_profile_roles[params["JobFlowRole"]]
            for role, service in (
                (service_role, "elasticmapreduce.amazonaws.com"),
                (instance_role, "ec2.amazonaws.com"),
            ):
                self.add(
                    pipelines, "iam:PassRole", role, {"iam:PassedToService": service}, why=PIPELINES_EMR, origin=origin
                )
            watch.append("TerminateJobFlows")
            self.emr_cluster(params, origin)
        else:
            self.add(pipelines, "elasticmapreduce:AddJobFlowSteps", cluster, why=PIPELINES_EMR, origin=origin)
        for action in watch:
            self.add(pipelines, f"elasticmapreduce:{action}", cluster, why=PIPELINES_EMR, origin=origin)
        cluster_config = params if operation == "RunJobFlow" else self.standing_cluster()
        instance = assumed(self.model.instance_profile_roles[cluster_config["JobFlowRole"]], "i-0123456789abcdef0")
        for emr_step in params["Steps"]:
            self.spark_submit(instance, emr_step["HadoopJarStep"]["Args"], cluster_config, origin)

    def standing_cluster(self) -> dict:
        """The AWS::EMR::Cluster the definition's AddJobFlowSteps targets (standing mode has one)."""
        (cluster,) = self.model.emr_clusters
        return cluster

    def spark_submit(self, instance: str, args: list[str], cluster: Mapping[str, Any], origin: str) -> None:
        """EMRFS on the nodes: the code spark-submit names, the step's --input (listed, read) and --output."""
        s3_key = self.emrfs_key(cluster)
        options, rest = spark_submit_parts(args)
        for code in [*options.get("--py-files", "").split(","), rest[0]]:
            if code:
                self.read(
                    instance, code, listed=False, key=s3_key, origin=origin, why=EMR_INSTANCE_ROLE + ": step code"
                )
        application = dict(zip(rest[1::2], rest[2::2], strict=False))
        source = application["--input"]
        names = [etl.table_file_name(t, "xlsx") for t in (etl.OCCUPATION_TABLE, etl.ALTERNATE_TABLE)]
        self.add(
            instance,
            "s3:ListBucket",
            f"arn:aws:s3:::{s3_parts(source)[0]}",
            {"s3:prefix": s3_parts(source)[1], **TLS},
            why=EMR_INSTANCE_ROLE + ": --input",
            origin=origin,
        )
        # The O*NET ETL reads its two tables; the titles ETL every CSV or Parquet file there (a plausible name).
        for name in names if application.get("--dataset", "onet") == "onet" else ["titles.csv"]:
            self.read(
                instance,
                within(source, name),
                listed=False,
                key=s3_key,
                origin=origin,
                why=EMR_INSTANCE_ROLE + ": --input",
            )
        target = application["--output"]
        self.add(
            instance,
            "s3:ListBucket",
            f"arn:aws:s3:::{s3_parts(target)[0]}",
            {"s3:prefix": s3_parts(target)[1], **TLS},
            why=EMR_INSTANCE_ROLE + ": --output",
            origin=origin,
        )
        written = within(target, OBJECT_UNDER_PREFIX)
        self.write(instance, written, key=s3_key, origin=origin, why=EMR_INSTANCE_ROLE + ": --output")
        self.add(
            instance,
            "s3:DeleteObject",
            object_arn(within(target, "_temporary/0/" + OBJECT_UNDER_PREFIX)),
            TLS,
            why=EMR_INSTANCE_ROLE + ": Spark's output committer and overwrite mode delete",
            origin=origin,
        )

    def emrfs_key(self, cluster: Mapping[str, Any]) -> str | None:
        rest = self.at_rest(cluster)
        s3 = rest.get("S3EncryptionConfiguration", {})
        return s3.get("AwsKmsKey") if s3.get("EncryptionMode") == "SSE-KMS" else None

    def at_rest(self, cluster: Mapping[str, Any]) -> dict:
        name = cluster.get("SecurityConfiguration")
        encryption = self.model.security_configurations[name]["EncryptionConfiguration"] if name else {}
        return encryption.get("AtRestEncryptionConfiguration", {}) if encryption.get("EnableAtRestEncryption") else {}

    def emr_cluster(self, cluster: Mapping[str, Any], origin: str) -> None:
        """A cluster's start: the EMR service role's EC2 and KMS calls, and the nodes' logs and disk keys."""
        service = assumed(self.model.role_arns[cluster["ServiceRole"]], "EMR")
        instance_role = self.model.instance_profile_roles[cluster["JobFlowRole"]]
        instance = assumed(instance_role, "i-0123456789abcdef0")
        self.add(
            service,
            "iam:PassRole",
            instance_role,
            {"iam:PassedToService": "ec2.amazonaws.com"},
            why=EMR_PASS_INSTANCE_ROLE,
            origin=origin,
        )
        instances = cluster["Instances"]
        subnet = instances["Ec2SubnetId"]
        groups = [
            instances[k]
            for k in ("EmrManagedMasterSecurityGroup", "EmrManagedSlaveSecurityGroup", "ServiceAccessSecurityGroup")
            if k in instances
        ]
        for kind, resource_id, actions in [
            ("subnet", subnet, ["RunInstances", "CreateNetworkInterface"]),
            *(
                ("security-group", g, ["RunInstances", "CreateNetworkInterface", "AuthorizeSecurityGroupIngress"])
                for g in groups
            ),
        ]:
            tags = {f"aws:ResourceTag/{k}": v for k, v in self.model.tags[resource_id].items() if k == EMR_MANAGED_TAG}
            for action in actions:
                self.add(
                    service,
                    f"ec2:{action}",
                    self.arn("ec2", f"{kind}/{resource_id}"),
                    tags,
                    why=EMR_SERVICE_ROLE,
                    origin=origin,
                )
        disks = self.at_rest(cluster).get("LocalDiskEncryptionConfiguration", {})
        if disks.get("EncryptionKeyProviderType") == "AwsKms":
            self.kms(instance, ["kms:GenerateDataKey", "kms:Decrypt"], disks["AwsKmsKey"], why=EMR_KMS, origin=origin)
            if disks.get("EnableEbsEncryption"):
                self.kms(
                    service,
                    ["kms:CreateGrant"],
                    disks["AwsKmsKey"],
                    context={"kms:GrantIsForAWSResource": "true"},
                    why=EMR_KMS,
                    origin=origin,
                )
                self.kms(
                    service,
                    ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:DescribeKey"],
                    disks["AwsKmsKey"],
                    why=EMR_KMS,
                    origin=origin,
                )
        if cluster.get("LogUri"):
            self.write(
                instance,
                within(cluster["LogUri"], f"{CLUSTER_ID}/node/i-0123456789abcdef0/daemons/log.gz"),
                key=self.emrfs_key(cluster),
                why=EMR_LOGS,
                origin=origin,
            )

    # --- Schedules, alerts, role assumptions -----------------------------------------------------------------

    def schedules(self) -> None:
        for schedule in self.app.schedules:
            target = schedule["Target"]
            scheduler = assumed(target["RoleArn"], "scheduler")
            origin = f"{self.app.env} schedule {schedule['Name']}"
            self.add(scheduler, "sagemaker:StartPipelineExecution", target["Arn"], why=SCHEDULER, origin=origin)
            queue = target.get("DeadLetterConfig", {}).get("Arn")
            if queue:
                self.add(scheduler, "sqs:SendMessage", queue, TLS, why=SCHEDULER, origin=origin)
                self.kms(
                    scheduler,
                    ["kms:GenerateDataKey", "kms:Decrypt"],
                    self.model.queue_keys.get(queue),
                    why=ENCRYPTED_QUEUE,
                    origin=origin,
                )

    def alerts(self) -> None:
        for rule in self.model.event_rules:
            rule_arn = self.arn("events", f"rule/{rule['Name']}")
            origin = f"{self.app.env} rule {rule['Name']}"
            for target in rule.get("Targets", []):
                topic = target["Arn"]
                if topic in self.model.functions:
                    continue  # the endpoint deployer's rule: endpoint()
                if topic not in self.model.topic_policies:
                    raise KeyError(f"{origin}: target {topic} is not a topic of the template; add its calls")
                source = {"aws:SourceAccount": self.account, "aws:SourceArn": rule_arn}
                self.add(
                    "events.amazonaws.com", "sns:Publish", topic, {**source, **TLS}, why=EVENTS_TO_SNS, origin=origin
                )
                self.kms(
                    "events.amazonaws.com",
                    ["kms:GenerateDataKey", "kms:Decrypt"],
                    self.model.topic_keys.get(topic),
                    why=EVENTS_TO_SNS,
                    origin=origin,
                )

    def endpoint(self) -> None:
        """The endpoint deployer function, its rule and dead letters, the endpoint's model role, alarms and logs."""
        from endpoint_deployer.deployer import ENV_ENDPOINT_NAME, EndpointSettings, deployment_config

        for function_arn, function in self.model.functions.items():
            environment = function.get("Environment", {}).get("Variables", {})
            if ENV_ENDPOINT_NAME not in environment:
                continue  # CDK's own handlers
            settings = EndpointSettings.from_environment(environment)
            origin = f"{self.app.env} endpoint {settings.endpoint_name}"
            self.endpoint_rules(function_arn, origin)
            self.add(
                "lambda.amazonaws.com",
                "sts:AssumeRole",
                function["Role"],
                {"aws:SourceAccount": self.account},
                why=ASSUME_ROLE,
                origin=origin,
            )
            deployer = assumed(function["Role"], function["FunctionName"])
            self.deployer_calls(deployer, function, settings, origin)
            self.endpoint_model_calls(settings, origin)
            if deployment_config(settings) is not None:
                for alarm in settings.rollback_alarms:
                    self.add(
                        deployer,
                        "cloudwatch:DescribeAlarms",
                        self.arn("cloudwatch", f"alarm:{alarm}"),
                        why=DEPLOY_GUARDRAILS,
                        origin=origin,
                    )
        # Not listed: CloudWatch Logs using the data key for the two log groups. Its key policy statement is
        # conditioned on kms:EncryptionContext:aws:logs:arn, a condition key the evaluator cannot read (it matches
        # variable keys only in the form prefix/name, and this one is kms:EncryptionContext:<name>);
        # test_infra_endpoint.py checks that statement instead.

    def endpoint_rules(self, function_arn: str, origin: str) -> None:
        """EventBridge invoking the function for each rule that targets it, and its dead-letter queue."""
        for rule in self.model.event_rules:
            rule_arn = self.arn("events", f"rule/{rule['Name']}")
            for target in rule.get("Targets", []):
                if target["Arn"] != function_arn:
                    continue
                source = {"aws:SourceArn": rule_arn}
                self.add(
                    "events.amazonaws.com",
                    "lambda:InvokeFunction",
                    function_arn,
                    source,
                    why=EVENTS_TO_LAMBDA,
                    origin=origin,
                )
                queue = target.get("DeadLetterConfig", {}).get("Arn")
                if queue:
                    self.add(
                        "events.amazonaws.com",
                        "sqs:SendMessage",
                        queue,
                        {**source, **TLS},
                        why=EVENTS_DEAD_LETTERS,
                        origin=origin,
                    )
                    self.kms(
                        "events.amazonaws.com",
                        ["kms:GenerateDataKey", "kms:Decrypt"],
                        self.model.queue_keys.get(queue),
                        why=EVENTS_DEAD_LETTERS,
                        origin=origin,
                    )

    def deployer_calls(self, deployer: str, function: dict, settings, origin: str) -> None:
        from endpoint_deployer.deployer import Package, target_for

        package = Package(self.registered_package_arn(settings.model_package_group), 1)
        target = target_for(settings, package)
        endpoint = self.arn("sagemaker", f"endpoint/{settings.endpoint_name}")
        model = self.arn("sagemaker", f"model/{target.model_name}")
        config = self.arn("sagemaker", f"endpoint-config/{target.config_name}")
        self.add(deployer, "sagemaker:ListModelPackages", "*", why=DEPLOYER, origin=origin)
        self.add(deployer, "sagemaker:DescribeModelPackage", package.arn, why=DEPLOYER, origin=origin)
        for action in ("DescribeEndpoint", "CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint"):
            self.add(deployer, f"sagemaker:{action}", endpoint, why=DEPLOYER, origin=origin)
        for action in ("CreateEndpoint", "UpdateEndpoint"):  # both also authorize the configuration they deploy
            self.add(deployer, f"sagemaker:{action}", config, why=DEPLOYER, origin=origin)
        for action in ("DescribeModel", "CreateModel"):
            self.add(deployer, f"sagemaker:{action}", model, why=DEPLOYER, origin=origin)
        for action in ("DescribeEndpointConfig", "CreateEndpointConfig"):
            self.add(deployer, f"sagemaker:{action}", config, why=DEPLOYER, origin=origin)
        self.add(
            deployer,
            "iam:PassRole",
            settings.model_role_arn,
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            why=DEPLOYER + ": CreateModel's ExecutionRoleArn",
            origin=origin,
        )
        if settings.alerts_topic_arn:
            self.add(deployer, "sns:Publish", settings.alerts_topic_arn, TLS, why=DEPLOYER, origin=origin)
            self.kms(
                deployer,
                ["kms:GenerateDataKey", "kms:Decrypt"],
                self.model.topic_keys.get(settings.alerts_topic_arn),
                why=DEPLOYER + ": an alert to the encrypted topic",
                origin=origin,
            )
        queue = function.get("DeadLetterConfig", {}).get("TargetArn")
        if queue:
            self.add(deployer, "sqs:SendMessage", queue, TLS, why=LAMBDA_ROLE, origin=origin)
            self.kms(
                deployer,
                ["kms:GenerateDataKey", "kms:Decrypt"],
                self.model.queue_keys.get(queue),
                why=LAMBDA_ROLE,
                origin=origin,
            )
        group = self.arn("logs", f"log-group:{function['LoggingConfig']['LogGroup']}")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self.add(
                deployer,
                action,
                f"{group}:log-stream:2026/12/04/[$LATEST]0123456789abcdef",
                why=LAMBDA_ROLE,
                origin=origin,
            )

    def endpoint_model_calls(self, settings, origin: str) -> None:
        """What SageMaker does as the endpoint's model role: the calls of a job's runtime, less the VPC and volume."""
        model_role = assumed(settings.model_role_arn, "SageMaker")
        register = self.register_model_request()
        [container] = register["InferenceSpecification"]["Containers"]
        self.image_pull(model_role, container["Image"], why=ENDPOINT_MODEL_ROLE, origin=origin)
        self.read(
            model_role,
            container["ModelDataUrl"],
            listed=False,
            why=ENDPOINT_MODEL_ROLE + ": the model archive",
            origin=origin,
        )
        self.container_logs(
            model_role,
            f"/aws/sagemaker/Endpoints/{settings.endpoint_name}",
            "AllTraffic/i-0123456789abcdef0",
            why=ENDPOINT_MODEL_ROLE,
            origin=origin,
        )
        self.add(
            model_role,
            "cloudwatch:PutMetricData",
            "*",
            {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"},
            why=ENDPOINT_MODEL_ROLE,
            origin=origin,
        )

    def alarms(self) -> None:
        """Each alarm with an SNS action publishes its state change to that topic, as CloudWatch."""
        for alarm in self.model.alarms:
            alarm_arn = self.arn("cloudwatch", f"alarm:{alarm['AlarmName']}")
            origin = f"{self.app.env} alarm {alarm['AlarmName']}"
            for topic in alarm.get("AlarmActions", []):
                if topic not in self.model.topic_policies:
                    raise KeyError(f"{origin}: action {topic} is not a topic of the template; add its calls")
                source = {"aws:SourceAccount": self.account, "aws:SourceArn": alarm_arn}
                self.add(
                    "cloudwatch.amazonaws.com",
                    "sns:Publish",
                    topic,
                    {**source, **TLS},
                    why=ALARMS_TO_SNS,
                    origin=origin,
                )
                self.kms(
                    "cloudwatch.amazonaws.com",
                    ["kms:GenerateDataKey", "kms:Decrypt"],
                    self.model.topic_keys.get(topic),
                    why=ALARMS_TO_SNS,
                    origin=origin,
                    context=source,
                )

    def role_assumptions(self) -> None:
        """Each service assumes the role it runs as: those passed to it, the pipeline's, the schedules', a standing
        cluster's."""
        assumptions = {(self.app.pipeline["RoleArn"], "sagemaker.amazonaws.com", "AWS::SageMaker::Pipeline RoleArn")}
        assumptions |= {
            (s["Target"]["RoleArn"], "scheduler.amazonaws.com", f"schedule {s['Name']}") for s in self.app.schedules
        }
        # A standing cluster's service role is passed by CloudFormation (the deployer), not by a role here.
        assumptions |= {
            (self.model.role_arns[c["ServiceRole"]], "elasticmapreduce.amazonaws.com", "AWS::EMR::Cluster")
            for c in self.model.emr_clusters
        }
        for call in self.found:
            if call.action == "iam:PassRole":
                assumptions.add((call.resource, dict(call.context)["iam:PassedToService"], call.origin))
        for role, service, origin in sorted(assumptions):
            context = {"aws:SourceAccount": self.account} if service in SOURCE_ACCOUNT_SERVICES else {}
            self.add(service, "sts:AssumeRole", role, context, why=ASSUME_ROLE, origin=origin)


def spark_submit_parts(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """(spark-submit's options, [application, application arguments...]) of `command-runner.jar` arguments."""
    if args[0] != "spark-submit":
        raise ValueError(f"not a spark-submit step: {args[:3]}")
    options: dict[str, str] = {}
    index = 1
    while index < len(args) and args[index].startswith("--"):
        options[args[index]] = args[index + 1]
        index += 2
    return options, args[index:]


@cache
def functions_called(step_module: str, module: str) -> tuple[str, ...]:
    """The `<module>.<function>` calls in a step module's source (registry.fetch, metrics.put, ...)."""
    tree = ast.parse((PROJECT_ROOT / "pipeline_steps" / f"{step_module}.py").read_text(encoding="utf-8"))
    return tuple(
        sorted(
            {
                node.func.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == module
            }
        )
    )


@cache
def registry_operations(function: str) -> tuple[tuple[str, str], ...]:
    """(service, operation) of each boto3 call `SageMakerRegistry.<function>` makes: `self.sagemaker.<method>` and
    `self.s3.<method>`, the method names mapped to API operations by botocore's own models."""
    source = (PROJECT_ROOT / "pipeline_steps" / "registry.py").read_text(encoding="utf-8")
    (registry_class,) = [
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "SageMakerRegistry"
    ]
    (method,) = [n for n in registry_class.body if isinstance(n, ast.FunctionDef) and n.name == function]
    found = []
    for node in ast.walk(method):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr in ("sagemaker", "s3")
        ):
            service = node.func.value.attr
            found.append((service, api_operation(service, node.func.attr)))
    if not found:
        raise LookupError(f"SageMakerRegistry.{function} makes no boto3 call: is the parse still right?")
    return tuple(found)


@cache
def api_operation(service: str, method: str) -> str:
    """botocore's operation name of a client method (list_model_packages -> ListModelPackages), as boto3 maps them."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}[method]


def calls_of(template: dict, env: str, region: str) -> tuple[AccessModel, list[Call]]:
    calls = Calls(template, env, region)
    return calls.model, calls.all()


def principals(calls: list[Call], model: AccessModel) -> Iterator[tuple[str, Call]]:
    """(readable principal, call): a role's logical ID, or the service principal."""
    for call in calls:
        name = model.role_logical_ids[role_of(call.principal)] if call.principal.startswith("arn:") else call.principal
        yield name, call
