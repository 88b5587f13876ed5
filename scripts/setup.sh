#!/usr/bin/env bash
# Set up .venv (Python >= 3.13) with vertex-batch, its local stack and the local model. Safe to rerun:
# it returns in seconds once done, and reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
wheels=.cache/wheels

find_python() {
  local candidate version
  for candidate in "${VERTEX_BATCH_PYTHON:-}" python3.13 python3.14 \
      "$HOME"/.pyenv/versions/3.13*/bin/python3.13 "$HOME"/.pyenv/versions/3.14*/bin/python3.14 \
      /usr/local/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    # pyenv shims answer only when a version is selected; ask the interpreter itself.
    version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    case "$version" in 3.1[3-9]) echo "$candidate"; return 0 ;; esac
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  python=$(find_python) || {
    echo "vertex-batch needs Python 3.13 or newer (the BigQuery emulator requires it)." >&2
    echo "Install it (e.g. 'pyenv install 3.13' or your OS package python3.13) or set VERTEX_BATCH_PYTHON." >&2
    exit 1
  }
  echo "creating $venv with $python"
  "$python" -m venv "$venv"
fi

stamp="$venv/.vertex-batch-setup"
wanted=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

read_setting() {  # a value of [tool.vertex-batch] in pyproject.toml
  "$venv/bin/python" -c "import tomllib,sys; v=tomllib.load(open('pyproject.toml','rb'))['tool']['vertex-batch'][sys.argv[1]]; print(' '.join(v) if isinstance(v, list) else v)" "$1"
}

# llama-cpp-python is published as source only. Its default build uses -march=native, which crashes on
# CPUs with AMX; build a portable wheel once into a folder we control (pip's own cache ignores CMAKE_ARGS),
# with only the libraries the binding loads (scripts/llama_cpp_binding_only.cmake).
llama_version=$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
if ! ls "$wheels"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $llama_version once (portable CPU build, about 2-5 minutes)"
  mkdir -p "$wheels"
  CMAKE_ARGS="$(read_setting llama-cpp-cmake-args) -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama_cpp_binding_only.cmake" \
    "$venv/bin/pip" wheel --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$llama_version"
fi

# uv (from PyPI) resolves and installs the rest in a fraction of pip's time; pip remains the fallback.
echo "installing vertex-batch and its dependencies"
export UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"  # the system's certificates, as pip uses them
# Byte-compile at install, as pip does: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set
# (CI images) every process would otherwise compile aiplatform, dbt and the rest from source again.
export UV_COMPILE_BYTECODE=1
pip_install() {
  if "$venv/bin/pip" install --quiet "$(read_setting installer)" >/dev/null 2>&1; then
    "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "$@" && return 0
  fi
  "$venv/bin/pip" install --quiet "$@"
}
pip_install --no-deps "$wheels"/llama_cpp_python-"$llama_version"-*.whl
pip_install --find-links "$wheels" -e '.[local,dev]'
# Packages whose own dependencies the project does not want (see [tool.vertex-batch] in pyproject.toml).
# shellcheck disable=SC2046
pip_install --no-deps $(read_setting install-without-deps)
"$venv/bin/python" -m vertex_batch.local.duckdb_extensions
# The local model's weights in the format llama.cpp decodes fastest on CPUs (about a second, once).
"$venv/bin/python" -m vertex_batch.local.backends.smollm2_weights >/dev/null 2>"$venv/model-conversion.log" || {
  cat "$venv/model-conversion.log" >&2
  exit 1
}
echo "$wanted" > "$stamp"
echo "setup done: $venv"
