// Everything a task author needs to move values: ValueTraits and every built-in conversion, Value and Args.
#pragma once

#include "farm/values/map_traits.hpp"       // IWYU pragma: export
#include "farm/values/nullable_traits.hpp"  // IWYU pragma: export
#include "farm/values/scalar_traits.hpp"    // IWYU pragma: export
#include "farm/values/sequence_traits.hpp"  // IWYU pragma: export
#include "farm/values/text_traits.hpp"      // IWYU pragma: export
#include "farm/values/value.hpp"            // IWYU pragma: export
#include "farm/values/value_codec.hpp"      // IWYU pragma: export
#include "farm/values/value_traits.hpp"     // IWYU pragma: export
