"""The lab's models as an HTTP API, with Gradio: what predict.py does, for programs on other machines.

    python gradio_app.py [--host 127.0.0.1] [--port 7860]

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    client.predict(handle_file("chest.png"), api_name="/classify")   # the JSON `predict.py classify --json` prints

Two endpoints, each taking one image file in any format images.read_image reads (DICOM and 16-bit too):

- `/classify` -> the JSON object `predict.py classify --json` prints for the file;
- `/segment`  -> the JSON object `predict.py segment --json` prints (without "mask") and the mask as a PNG
  (255 = polyp, at the image's own size);
- `/upscale`  -> (optional second input: "srresnet-real" (default), "srresnet", "srgan" or "bicubic") the JSON object
  `predict.py upscale --json` prints (without "output") and the x4 image as a PNG.

An image the modality recognizer routes elsewhere gets predict.py's answer: `file` and `error`, the reason
(and no mask). Anything the lab cannot read (no file, a broken or non-image file, missing weights) is a
`gr.Error` with the reason, which the client raises; the server carries on.

Limits (limits.py): an upload over 32 MB is refused by Gradio itself (gradio_client says so before sending,
the server answers 413); each endpoint runs 2 calls at once and holds at most QUEUE_SIZE waiting. Uploads and
results leave Gradio's file cache once CACHE_SECONDS old.
"""
import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio loads: a teaching lab reports to no one
import gradio as gr  # noqa: E402

import inference  # noqa: E402
import limits  # noqa: E402
import superres  # noqa: E402
from images import ImageReadError, LoadedImage, read_image  # noqa: E402
from models import WeightsError  # noqa: E402

QUEUE_SIZE = 64  # requests waiting at most; one more is told the queue is full instead of waiting for minutes
# Every CACHE_SECONDS, Gradio deletes the uploads and results it cached that are older than that: the cache holds
# at most two such periods of calls (a 1-megapixel upscale leaves ~38 MB), not every call since the server started.
# Not deleted at the end of each call: an upload's folder is named by its bytes, so a caller sending the same file
# a moment later would find it gone. 5 minutes is far longer than any call waits in the queue.
CACHE_SECONDS = 300
# Any file, as on the pages: a DICOM often has no extension (IM0001), and images.read_image tells an image from
# anything else by its bytes, refusing the rest with the reason. Gradio's file_types would refuse by name alone.
FILE_TYPES = None


def refuse(message: str) -> gr.Error:
    """The error the client sees, with the reason; expected, so the server logs no traceback for it."""
    return gr.Error(message, print_exception=False)


def read(path: str | None) -> LoadedImage:
    if not path:
        raise refuse("no image: upload one image file (PNG, JPEG, TIFF, DICOM, ...)")
    try:
        return read_image(path, name=Path(path).name)  # Gradio keeps the uploaded file's own name
    except ImageReadError as error:
        raise refuse(str(error)) from None


def classify(path: str | None) -> dict:
    """The line `predict.py classify --json` prints for this file."""
    image = read(path)
    try:
        return inference.classify(image).to_json()
    except WeightsError as error:
        raise refuse(f"the lab's models cannot be loaded: {error}") from None


def segment(path: str | None) -> tuple[dict, np.ndarray | None]:
    """The line `predict.py segment --json` prints for this file (no "mask": it is the second output), and
    the mask, (H, W) uint8 with 255 where the segmenter finds a polyp."""
    image = read(path)
    try:
        result = inference.segment(image)
    except inference.Refusal as refusal:
        return {"file": image.name, "error": str(refusal)}, None
    except WeightsError as error:
        raise refuse(f"the lab's models cannot be loaded: {error}") from None
    return result.to_json(), result.mask.astype(np.uint8) * 255


def upscale(path: str | None, method: str = superres.DEFAULT) -> tuple[dict, np.ndarray]:
    """Super-resolution x4 of the file by `method` (srresnet-real, srresnet, srgan or bicubic): what `predict.py upscale --json`
    prints for it (without "output": the image is the second output), and the x4 image as 8-bit pixels."""
    image = read(path)
    if method not in {*superres.MODELS, "bicubic"}:
        raise refuse(f"unknown method {method!r}; choose one of: {', '.join([*superres.MODELS, 'bicubic'])}")
    try:
        model = None if method == "bicubic" else inference.load_model(superres.MODELS[method])
        pixels = superres.upscale(image, model)
    except superres.TooLarge as error:
        raise refuse(str(error)) from None
    except WeightsError as error:
        raise refuse(f"the lab's models cannot be loaded: {error}") from None
    answer = {"file": image.name, "model": superres.MODELS.get(method, "bicubic"),
              "self_ensemble": False,  # the model's default passes: the API does not offer the slower x8
              "passes": superres.passes(model),
              "input_size": [image.width, image.height], "output_size": [pixels.shape[1], pixels.shape[0]],
              "notes": superres.notes(image)}
    return answer, np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def build() -> gr.Blocks:
    with gr.Blocks(title="MedLab API", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        gr.Markdown("# MedLab API\nThe lab's models over HTTP: see *Use via API* below for a client. "
                    "A teaching tool, **not a medical device**: never use it to diagnose, triage or treat anyone.")
        with gr.Tab("Classify"):
            file = gr.File(label="Image file", file_types=FILE_TYPES, type="filepath")
            answer = gr.JSON(label="Result (as predict.py classify --json)")
            gr.Button("Classify", variant="primary").click(classify, file, answer, api_name="classify")
        with gr.Tab("Segment"):
            file = gr.File(label="Colonoscopy frame", file_types=FILE_TYPES, type="filepath")
            answer = gr.JSON(label="Result (as predict.py segment --json)")
            mask = gr.Image(label="Polyp mask", type="numpy", format="png", image_mode="L", interactive=False)
            gr.Button("Segment", variant="primary").click(segment, file, [answer, mask], api_name="segment")
        with gr.Tab("Upscale x4"):
            file = gr.File(label=f"Image (at most {superres.MAX_INPUT_PIXELS:,} pixels)", file_types=FILE_TYPES,
                           type="filepath")
            method = gr.Dropdown([*superres.MODELS, "bicubic"], value=superres.DEFAULT, label="Method")
            answer = gr.JSON(label="Result (as predict.py upscale --json)")
            result = gr.Image(label="x4", type="numpy", format="png", interactive=False)
            gr.Button("Upscale", variant="primary").click(upscale, [file, method], [answer, result], api_name="upscale")
    # Each endpoint runs up to MAX_CONCURRENT_INFERENCES calls at once (inference.py bounds them across both).
    demo.queue(default_concurrency_limit=limits.MAX_CONCURRENT_INFERENCES, max_size=QUEUE_SIZE)
    return demo


def serve(host: str = "127.0.0.1", port: int = 7860, **options) -> gr.Blocks:
    """Build and launch the API with the lab's limits: uploads over limits.MAX_UPLOAD_BYTES are refused by
    Gradio before any of our code runs. `options` go to `launch` (e.g. prevent_thread_lock=True in tests)."""
    demo = build()
    demo.launch(server_name=host, server_port=port, max_file_size=limits.MAX_UPLOAD_BYTES, **options)
    return demo


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    p.add_argument("--port", type=int, default=7860)
    args = p.parse_args(argv)
    inference.configure_server()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
