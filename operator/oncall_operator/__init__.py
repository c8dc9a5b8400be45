"""oncall-operator: keeps the people-data between PagerDuty and Slack correct, minimal and compliant."""

__version__ = "0.1.0"

API_GROUP = "oncall-operator.dev"
API_VERSION = "v1alpha1"
