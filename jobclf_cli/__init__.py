"""`jobclf`: start, follow and stop pipeline executions; list, inspect, approve and reject models; show the
endpoint and classify titles with it (or with a local server).

Every command takes `--env` (an environment of config/environments.toml). Against AWS it finds
the pipeline and the model package group from the outputs of the environment's CloudFormation
stack (`JobClf-<env>`), else from the names the configuration derives (`jobclf-<env>`). With
`--local` it works on the local run's work folder instead (see `python -m workflow.local`).
"""

__version__ = "0.1.0"
