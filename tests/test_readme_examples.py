"""The README's pytest examples are real tests: run them as a user's suite would."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_plugin_examples_pass(pytester):
    [code] = re.findall(r"```python\n(.*?)```", readme_section("Testing your integration with pytest"), re.S)
    pytester.makepyfile(test_readme=code)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_container_snippets_parse():
    """Compose, GitHub Actions and GitLab snippets: valid YAML that waits on /_sim/health."""
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", readme_section("Container image"), re.S)
    assert len(blocks) == 3
    documents = [yaml.safe_load(block) for block in blocks]
    compose, actions, gitlab = documents
    assert compose["services"]["tests"]["depends_on"]["cm-sim"]["condition"] == "service_healthy"
    assert any("/_sim/health" in step.get("run", "") for step in actions["jobs"]["integration"]["steps"])
    assert any("/_sim/health" in line for line in gitlab["integration"]["script"])
