"""Read-out calls behind the one "voice" channel: Alibaba Cloud voice notification, Twilio Voice, log."""
