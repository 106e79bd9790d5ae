"""JobClf's typed, validated configuration: `load_environment("develop")`."""

from config.settings import (
    ConfigError,
    EmrConfig,
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
