"""The AWS Batch API served by Kubatch: the JSON protocol botocore's `batch` service model
describes, mapped onto Kubatch's custom resources (`kubatch api`)."""
