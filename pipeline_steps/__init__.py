"""The code SageMaker and EMR run: one plain script per pipeline step, each a pure core and a thin I/O shell.

Step modules run on Python 3.9 (the SageMaker scikit-learn 1.2-1 image and EMR 7's default
Python): keep them to 3.9 syntax and standard-library features (ruff's target-version enforces it).
`definition/` (the SageMaker SDK builder) and `local/` (the offline runner) never ship to the cloud.
"""
