// What the model bindings share: the config object ({ arch, vocabSize, hidden, ... }) -> EncoderConfig.
#pragma once
#include <napi.h>

#include "../model/encoder.h"

namespace splade::binding {

// info[i] is the config object; throws a JS Error (and validates the sizes) on a bad one.
EncoderConfig parse_config(const Napi::CallbackInfo& info, size_t i);

}  // namespace splade::binding
