"""JobClf's typed, validated configuration: `load_environment("develop")`."""

from config.settings import (
    ConfigError,
    EmrConfig,
    EndpointConfig,
    EnvironmentConfig,
    ModelConfig,
    MonitoringConfig,
    NetworkConfig,
    PredictConfig,
    SageMakerConfig,
    ScheduleConfig,
    StorageConfig,
    load_all,
    load_environment,
)

__all__ = [
    "ConfigError",
    "EmrConfig",
    "EndpointConfig",
    "EnvironmentConfig",
    "ModelConfig",
    "MonitoringConfig",
    "NetworkConfig",
    "PredictConfig",
    "SageMakerConfig",
    "ScheduleConfig",
    "StorageConfig",
    "load_all",
    "load_environment",
]
