"""Serve a model folder through the scikit-learn image's serving stack and answer requests with it.

    .venv-image/bin/python tests/runtime/serving_app.py < requests.json > responses.json

Runs in the image environment (Python 3.9, sagemaker-containers 2.8.6.post2, Flask 3.1). The image
starts `sagemaker_sklearn_container.serving:main` under gunicorn; that package is built into the
image from its repository and is not on PyPI, so `serving_app` builds the same WSGI app from the same
library calls its serving module makes (sagemaker_containers.beta.framework's env, files,
transformer and worker), and answers each request through Flask's WSGI test client, in process.

Environment: SAGEMAKER_BASE_DIR (the /opt/ml folder, with the extracted model.tar.gz in model/) and
the model container's Environment from the definition (SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY
with /opt/ml replaced by SAGEMAKER_BASE_DIR).
stdin: [{"content_type": ..., "accept": ..., "body": ..., "encoding": (of the body, default utf-8)}, ...];
stdout: [{"status": ...,
"content_type": ..., "body": ...}, ...] in the same order.
"""

import importlib
import json
import sys

from sagemaker_containers.beta.framework import env, files, transformer, worker


def serving_app():
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


def main():
    client = serving_app().test_client()
    answers = []
    for request in json.load(sys.stdin):
        headers = {"Content-Type": request["content_type"]}
        if request.get("accept"):
            headers["Accept"] = request["accept"]
        body = request["body"].encode(request.get("encoding", "utf-8"))
        response = client.post("/invocations", data=body, headers=headers)
        answers.append(
            {"status": response.status_code, "content_type": response.content_type, "body": response.get_data(as_text=True)}
        )
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
