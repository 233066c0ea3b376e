"""SMS providers behind the one "sms" channel: Alibaba Cloud, Tencent Cloud, Twilio, log; failover and registry."""
