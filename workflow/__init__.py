"""What runs outside the cloud: the definition builder (at `cdk synth`, with the sagemaker SDK) and
the local run (on a laptop). Neither ships to SageMaker or EMR; `pipeline_steps` is what does."""
