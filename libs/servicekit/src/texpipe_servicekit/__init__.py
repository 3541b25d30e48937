"""What every texpipe service is built on, written once.

Settings mixins (:mod:`settings`), JSON logging (:mod:`logs`), the ops endpoints
(:mod:`ops`), the S3 object store (:mod:`s3`), FastStream/RabbitMQ helpers (:mod:`rabbit`)
and graceful shutdown (:mod:`shutdown`). Mechanism only: no domain rule lives here.
"""
