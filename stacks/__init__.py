"""The CDK stack of one JobClf environment, composed of small constructs (one module each)."""

from stacks.jobclf_stack import JobClfStack

__all__ = ["JobClfStack"]
