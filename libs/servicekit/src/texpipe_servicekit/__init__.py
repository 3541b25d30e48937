"""What every texpipe service is built on, written once.

Settings mixins (:mod:`settings`), JSON logging (:mod:`logs`), the ops endpoints
(:mod:`ops`), the S3 object store (:mod:`s3`), the broker edge (:mod:`rabbit`: broker
factories, whose ``graceful_timeout`` is the services' graceful shutdown, topology
declaration, confirmed publishing, the one settle policy, dead-lettering) and the dependency
gate that pauses consumption during an outage (:mod:`gate`). Mechanism only: no domain rule
lives here.
"""
