// A C++ program against the installed libspdf: <spdf.h> compiles as C++ (its declarations have C
// linkage) and the library links and runs.  Build:
//   c++ link.cpp $(pkg-config --cflags --libs spdf) -o link
#include <spdf.h>

#include <cstdio>
#include <cstring>

int main()
{
    if (std::strcmp(spdf_version_string(), SPDF_VERSION_STRING) != 0) {
        std::fprintf(stderr, "header %s, library %s\n", SPDF_VERSION_STRING, spdf_version_string());
        return 1;
    }
    spdf_context *ctx = nullptr;
    spdf_model_config config;
    spdf_model_config_init(&config);
    config.num_layers = 1;
    config.channels = 32;
    spdf_model *model = nullptr;
    if (spdf_context_create(nullptr, &ctx) != SPDF_OK ||
        spdf_model_create(ctx, &config, &model) != SPDF_OK) {
        std::fprintf(stderr, "%s\n", spdf_last_error());
        return 1;
    }
    int64_t params = 0;
    spdf_model_num_params(model, &params);
    const spdf_status status = spdf_model_import_llmc(ctx, "/nonexistent/gpt2.bin", &model);
    std::printf("libspdf %s from C++: %lld parameters; importing a missing file gives %s\n",
                spdf_version_string(), static_cast<long long>(params), spdf_status_name(status));
    spdf_model_free(model);
    spdf_context_free(ctx);
    return status == SPDF_EIO ? 0 : 1;
}
