# MedLab's Streamlit app on CPU, as a Hugging Face Docker Space (README.md's front matter) or on any Docker host:
#   docker build -t medlab . && docker run --rm -p 8501:8501 medlab     # then http://localhost:8501
FROM python:3.11-slim

# Spaces run the container as uid 1000: the app, and the Hub cache the "Model source" sidebar downloads into,
# belong to that user.
RUN useradd --create-home --uid 1000 user
ENV HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /home/user/app

# torch and torchvision at requirements.txt's versions, but from PyTorch's CPU index: PyPI's torch for Linux
# x86_64 is the CUDA build, gigabytes of GPU libraries a CPU Space never loads. The second install then finds
# them satisfied (2.14.1+cpu is 2.14.1) and adds the rest from PyPI.
COPY requirements.txt .
RUN pip install $(grep -E '^(torch|torchvision)==' requirements.txt) --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt

COPY --chown=user . .
USER user

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"

# The last two flags are for Spaces. A Space shows the app in an iframe on huggingface.co, another origin than
# the app's own *.hf.space, and browsers do not send the app's XSRF cookie from inside such a third-party iframe:
# with XSRF protection on, every upload is refused with 403 "XSRF token missing or invalid". What turning it off
# costs: a page on another site could post a file into a visitor's open session (cross-site request forgery),
# and with CORS off scripts on other sites may read the server's responses. MedLab has no accounts, secrets or
# stored state and only reads uploads, so the worst case is a foreign image on a visitor's screen. Outside an
# iframe, drop both flags (`make app` keeps Streamlit's defaults).
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0", \
     "--server.headless", "true", "--browser.gatherUsageStats", "false", \
     "--server.enableXsrfProtection", "false", "--server.enableCORS", "false"]
