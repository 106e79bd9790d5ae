"""The scikit-learn image's serving stack, run as the image runs it, on loopback.

    .venv-image/bin/python workflow/local/serving_app.py --port 8080 [--workers N]

Runs in the image environment (Python 3.9, sagemaker-containers 2.8.6.post2, Flask 3.1, gunicorn 20.0.4,
gevent), as a script: only this folder is on its Python path, never the project root, so the model's
code/inference.py imports the `pipeline_steps` the model archive carries, as in the image. `workflow.local.serving`
starts it (`jobclf serve --local`, tests/runtime, benchmarks/endpoint_load.py). The image starts
`sagemaker_sklearn_container.serving:main` through `sagemaker_containers._server.start`; that package is
built into the image from its repository and is not on PyPI, so `serving_app` builds the same WSGI app
from the same library calls its serving module makes (sagemaker_containers.beta.framework's env, files,
transformer and worker), and `main` starts gunicorn with the flags `_server.start` gives it: gevent
workers, 1000 connections per worker, the model server's timeout and worker count (ServingEnv:
SAGEMAKER_MODEL_SERVER_TIMEOUT, SAGEMAKER_MODEL_SERVER_WORKERS, default one per CPU). What differs: it
binds 127.0.0.1:<port> where the image binds a unix socket behind nginx (nginx, which only proxies, is
not installed), and it imports the model's code folder where the image pip-installs it.

Environment: SAGEMAKER_BASE_DIR (the /opt/ml folder, with the extracted model.tar.gz in model/) and the
model container's Environment (SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY with /opt/ml replaced by
SAGEMAKER_BASE_DIR).
"""

import argparse
import importlib
import sys

from sagemaker_containers.beta.framework import env, files, transformer, worker

LOOPBACK = "127.0.0.1"


def serving_app():
    """The WSGI app of the image's model server, for the model under SAGEMAKER_BASE_DIR."""
    serving_env = env.ServingEnv()
    # As the image's server start does: the model's code folder becomes /opt/ml/code, which gunicorn
    # puts on the Python path. (It also pip-installs that folder as a package; the import is the same.)
    files.download_and_extract(serving_env.module_dir, env.code_dir)
    sys.path.append(env.code_dir)
    user_module = importlib.import_module(serving_env.module_name)
    # As sagemaker_sklearn_container.serving does for a module with input_fn, predict_fn and output_fn.
    user_transformer = transformer.Transformer(
        model_fn=user_module.model_fn,
        input_fn=user_module.input_fn,
        predict_fn=user_module.predict_fn,
        output_fn=user_module.output_fn,
    )
    user_transformer.initialize()
    return worker.Worker(
        transform_fn=user_transformer.transform,
        module_name=serving_env.module_name,
        execution_parameters_fn=getattr(user_module, "execution_parameters_fn", None),
    )


def gunicorn_arguments(port, workers, timeout):
    """gunicorn's command-line arguments, as sagemaker_containers._server.start builds them, bound to loopback."""
    return [
        "--timeout", str(timeout),
        "-k", "gevent",
        "-b", f"{LOOPBACK}:{port}",
        "--worker-connections", str(1000 * workers),
        "-w", str(workers),
        "--log-level", "info",
        "serving_app:serving_app()",
    ]  # fmt: skip


def main(argv=None):
    serving_env = env.ServingEnv()
    parser = argparse.ArgumentParser(description="Serve the model under SAGEMAKER_BASE_DIR on 127.0.0.1")
    parser.add_argument("--port", type=int, default=int(serving_env.http_port))
    parser.add_argument("--workers", type=int, default=serving_env.model_server_workers)
    parser.add_argument("--timeout", type=int, default=serving_env.model_server_timeout)
    options = parser.parse_args(argv)
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", *gunicorn_arguments(options.port, options.workers, options.timeout)]
    run()


if __name__ == "__main__":
    main()
