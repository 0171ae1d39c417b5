"""The hostile-file corpus (tests/hostile.py) and what the lab answers for each file, as a Markdown table.

    python scripts/hostile_table.py            # the shipped weights in weights/

Each file goes through images.read_image and, if it is read, the routed classifier (inference.classify),
exactly as predict.py, the Classify page and the Gradio API do; tests/test_reliability.py checks that all
three give this same answer. Copy the output into RELIABILITY.md.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import inference  # noqa: E402
from images import ImageReadError, read_image  # noqa: E402
from tests.hostile import corpus  # noqa: E402


def outcome(case) -> str:
    try:
        image = read_image(case.data, name=case.name)
    except ImageReadError as error:
        return f"refused: {error}"
    shape = "x".join(map(str, image.pixels.shape))
    read = f"read ({image.format}, {image.bit_depth}-bit, {shape}{', ' + str(image.info) if image.info else ''})"
    result = inference.classify(image)
    if result.refusal:
        return f"{read}; then routed: {result.refusal}"
    return f"{read}; then classified: {result.label} by {result.model}"


def main() -> None:
    print("| file | what it is | bytes | the lab's answer |")
    print("|---|---|---|---|")
    for case in corpus():
        print(f"| `{case.name}` | {case.what} | {len(case.data):,} | {outcome(case).replace('|', '/')} |")


if __name__ == "__main__":
    main()
