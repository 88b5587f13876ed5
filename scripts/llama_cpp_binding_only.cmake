# Included into llama.cpp's own CMake project while scripts/setup.sh builds llama-cpp-python
# (CMAKE_PROJECT_llama.cpp_INCLUDE). The Python binding loads only libllama and the ggml libraries;
# llama-cpp-python forces llama.cpp's "common" library on (argument parsing, chat parsers, an HTTP
# client), which nothing in the wheel uses and which is about a third of the compile. A plain variable
# here shadows that forced cache entry inside llama.cpp's directory scope.
set(LLAMA_BUILD_COMMON OFF)
