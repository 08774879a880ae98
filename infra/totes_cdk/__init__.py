"""The AWS deployment of totes-cdc as an AWS CDK (Python) app: one stack per concern.

    network ─┬─ stream ── capture (DMS)
             ├─ lake ──── governance (Lake Formation)
             ├─ consumers (ECS Fargate, KCL MultiLangDaemon)
             ├─ warehouse (Redshift Serverless)
             └─ load (Step Functions + planning Lambda) ── observability (alarms, dashboard)

`infra/app.py` builds it; `make synth` writes the templates to `infra/cdk.out`.
"""
