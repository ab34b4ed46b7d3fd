#!/bin/sh
# One-shot set-up of MinIO for the gateway (docker-compose.yml, service minio-setup):
# the bucket, and a user that may touch that bucket only. The gateway never holds
# MinIO's root credentials. Safe to run again: every step is idempotent.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_BUCKET:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
policy="gateway-${S3_BUCKET}"

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/${S3_BUCKET}"

# What @tus/s3-store (multipart uploads under .tus/) and the Store (objects, copies, listings) use.
cat >/tmp/policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}/*"]
    }
  ]
}
JSON
mc admin policy create local "$policy" /tmp/policy.json
mc admin user add local "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
# attach refuses a policy that is already attached (a second run): that is the state wanted.
mc admin policy attach local "$policy" --user "$S3_ACCESS_KEY" 2>/dev/null ||
  mc admin user info local "$S3_ACCESS_KEY" | grep -q "$policy"
echo "minio-setup: bucket ${S3_BUCKET}, user ${S3_ACCESS_KEY} limited to it"
