// The StreamSocket instance is compiled once here instead of in every file that uses it.
#include "reactor/stream/buffered_stream.hpp"

namespace rfarm {

template class BufferedStream<StreamSocket>;

}  // namespace rfarm
