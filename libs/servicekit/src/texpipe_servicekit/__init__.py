"""What every texpipe service is built on, written once.

Settings mixins (:mod:`settings`), JSON logging (:mod:`logs`), the ops endpoints
(:mod:`ops`), the S3 object store (:mod:`s3`) and FastStream/RabbitMQ helpers (:mod:`rabbit`:
the broker factory, whose ``graceful_timeout`` is the services' graceful shutdown, topology
declaration, dead-lettering). Mechanism only: no domain rule lives here.
"""
