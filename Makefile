# The two commands (README): `make run` and `make test`. Both set up everything they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# checkov in its own venv: it pins boto3 1.35 and packaging 23, which the sagemaker SDK in .venv cannot share.
CHECKOV_VENV := .venv-checkov
# The SageMaker scikit-learn 1.2-1 image as a Python 3.9 venv (requirements-image.txt says where each pin
# comes from): the local run's processing and training jobs, and tests/runtime/, run in it.
IMAGE_VENV := .venv-image
WORK := .work
ENV ?= develop
# O*NET input: a folder you name (make run ONET_DIR=...), else the copy beside this project
# (../shared/onet), else the pinned O*NET 28.1 release downloaded and checksum-verified.
ONET_DIR ?= $(firstword $(wildcard ../shared/onet/db_28_1_excel) $(WORK)/onet/db_28_1_excel)
TITLES ?= examples/titles.csv
# The CDK CLI (npx cdk), jsii (the tests' and the docs' synth) and the tests' IAM policy evaluator run on the first
# `node` on PATH. When PATH has no maintained Node, the set-up installs one into node_modules/.bin
# (scripts/node.sh), so it goes first.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help setup run test synth clean

help:
	@echo "make run    set up, run the pipeline locally (train, then predict on $(TITLES)) and cdk synth both environments"
	@echo "make test   set up and run every test (unit, local pipeline end to end, synth snapshots, cdk-nag, cfn-lint, checkov, CI schema)"
	@echo "make setup  install what the two need: .venv, .venv-image (Python 3.9), .venv-checkov, the CDK CLI, a maintained Node if PATH has none, Java"
	@echo "make synth  set up and cdk synth both environments (runs the cdk-nag checks)"
	@echo "make clean  remove .work/, cdk.out/ and build/"

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(IMAGE_VENV)/.installed node_modules/.installed java

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# --no-deps: requirements-image.txt pins every package, and sagemaker-containers' own flask==1.1.1 pin
# contradicts the image's Flask>=3.1.0. scripts/python39.sh finds Python 3.9 or says how to get one.
$(IMAGE_VENV)/.installed: requirements-image.txt scripts/python39.sh
	rm -rf $(IMAGE_VENV)
	python39=$$(scripts/python39.sh) && "$$python39" -m venv $(IMAGE_VENV)
	$(IMAGE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IMAGE_VENV)/bin/python -m pip install --quiet --no-deps -r requirements-image.txt
	touch $@

# The CDK CLI pinned in package-lock.json, and Node 24 (package.json's optional node-linux-* packages: Node's
# release binaries on the npm registry, integrity-pinned) only when PATH has no maintained Node.
# scripts/node.sh decides, and stops with one line saying how to get one when neither is there.
node_modules/.installed: package.json package-lock.json scripts/node.sh
	npm ci --no-audit --no-fund --loglevel=error $$(scripts/node.sh --path >/dev/null && echo --omit=optional)
	@node=$$(scripts/node.sh) && echo "Node for the CDK CLI and jsii: $$node ($$("$$node" --version))"
	touch $@

# PySpark needs a Java runtime (Spark 3.5 supports 8, 11 and 17).
.PHONY: java
java:
	@command -v java >/dev/null || { echo "Installing a Java runtime for PySpark"; \
	  apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; }

$(WORK)/onet/db_28_1_excel:
	$(PY) scripts/fetch_onet.py $(WORK)/onet

# --if-changed: a second `make run` with the same definition, O*NET files and parameters does not train and
# register the same model again (README, "The two commands"); the predict run always runs.
run: setup $(ONET_DIR)
	$(PY) -m workflow.local --env $(ENV) --use-type train --onet-dir "$(ONET_DIR)" --work-dir $(WORK)/local --if-changed
	$(PY) -m workflow.local --env $(ENV) --use-type predict --input $(TITLES) --output $(WORK)/predictions.csv --work-dir $(WORK)/local
	npx cdk synth --quiet
	@echo "Synthesized: cdk.out/JobClf-develop.template.json, cdk.out/JobClf-production.template.json"
	@$(PY) scripts/example_matches.py $(TITLES) $(WORK)/predictions.csv

synth: setup
	npx cdk synth --quiet

test: setup
	JOBCLF_ONET_DIR="$(ONET_DIR)" $(PY) -m pytest --junitxml=$(WORK)/junit.xml

clean:
	rm -rf $(WORK) cdk.out build
