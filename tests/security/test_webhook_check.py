"""`alerts check` refuses stored robot webhook URLs on private, loopback or link-local addresses.

Before: an organisation contact could point a "robot" at 127.0.0.1 or the cloud metadata address,
and nothing ever said so. The URLs are stored encrypted; the check reads them with the key.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from alerts.cli import cli
from tests.channels.notices_support import KEY, import_organisations, make_service

CSV = ("key,name,kind,area,contacts\n"
       "gp1,高平一中,school,北城街道,\"wecom:http://127.0.0.1:9/cgi-bin/webhook/send?key=0123456789abcdef\"\n"
       "gp2,高平二中,school,北城街道,\"dingtalk:https://169.254.169.254/robot/send?access_token=fedcba9876543210\"\n")


def check(config_dir: Path, database_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--config", str(config_dir)], catch_exceptions=False,
                                env={"ALERTS_DATABASE_URL": database_url, "ALERTS_ENCRYPTION_KEY": KEY})
    return result.exit_code, result.output


async def test_check_names_each_robot_url_that_points_inside(config_dir: Path, database_url: str) -> None:
    service = await make_service(config_dir, database_url)
    try:
        await import_organisations(service, CSV)
    finally:
        await service.close()
    code, output = check(config_dir, database_url)
    lines = [line for line in output.splitlines() if "organisation contact" in line]
    assert code == 1 and len(lines) == 2, output
    assert any("127.0.0.1 is a private, loopback or link-local address" in line and "高平一中" in line for line in lines)
    assert any("169.254.169.254" in line and "高平二中" in line for line in lines)
    assert "0123456789abcdef" not in output and "fedcba9876543210" not in output, "the keys are never shown"

    notices = config_dir / "notices.yaml"
    notices.write_text(notices.read_text(encoding="utf-8").replace(
        "webhooks:\n", "webhooks:\n  allow_networks: [127.0.0.0/8]\n"), encoding="utf-8")
    code, output = check(config_dir, database_url)
    assert [line for line in output.splitlines() if "organisation contact" in line and "169.254" not in line] == []
    assert "169.254.169.254" in output
