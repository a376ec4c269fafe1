#version 330 core
// Resamples one tile of an equirectangular panorama into one face of a cubemap.
// Rendered once per face (and per tile for panoramas larger than GL_MAX_TEXTURE_SIZE).

uniform sampler2D u_tile;
uniform int u_face;            // GL_TEXTURE_CUBE_MAP_POSITIVE_X + u_face
uniform float u_face_size;     // pixels
uniform vec2 u_image_size;     // full panorama width, height in pixels
uniform vec4 u_tile_rect;      // pixels this tile owns: x0, y0, x1, y1
uniform vec2 u_tile_origin;    // full-panorama pixel at the tile texture's (0, 0) corner
uniform vec2 u_tile_size;      // tile texture size in pixels

out vec4 frag_colour;

const float PI = 3.14159265358979;

// Direction through a face texel, following the cube map face table of the OpenGL 3.3 spec
// (section 3.8.10): for face +X, s_c = -r_z and t_c = -r_y, and so on.
vec3 face_direction(int face, vec2 st) {
    if (face == 0) return vec3(1.0, -st.y, -st.x);
    if (face == 1) return vec3(-1.0, -st.y, st.x);
    if (face == 2) return vec3(st.x, 1.0, st.y);
    if (face == 3) return vec3(st.x, -1.0, -st.y);
    if (face == 4) return vec3(st.x, -st.y, 1.0);
    return vec3(-st.x, -st.y, -1.0);
}

// A longitude step across the 0/360° seam is really a small step the other way round.
float unwrap(float dx, float period) {
    return dx - period * round(dx / period);
}

void main() {
    vec2 st = 2.0 * gl_FragCoord.xy / u_face_size - 1.0;
    vec3 d = normalize(face_direction(u_face, st));
    float lon = atan(d.x, d.z);
    float lat = asin(clamp(d.y, -1.0, 1.0));
    vec2 pixel = vec2((lon / (2.0 * PI) + 0.5) * u_image_size.x, (0.5 - lat / PI) * u_image_size.y);

    // The footprint of this cube texel in panorama pixels. The implicit gradients jump by a whole
    // panorama width where atan wraps, which would pick the smallest mip level and draw a line
    // along the seam, so they are unwrapped first.
    vec2 dx = dFdx(pixel);
    vec2 dy = dFdy(pixel);
    dx.x = unwrap(dx.x, u_image_size.x);
    dy.x = unwrap(dy.x, u_image_size.x);

    if (pixel.x < u_tile_rect.x || pixel.x >= u_tile_rect.z || pixel.y < u_tile_rect.y || pixel.y >= u_tile_rect.w) {
        discard;
    }

    // The equirect stretches the sphere only horizontally (by 1/cos(latitude)), so near the poles a
    // cube texel covers many panorama columns but few rows, and around the pole itself its columns
    // span every longitude. Filter that footprint by hand: the mip level of its height and up to
    // 16 taps along its width, instead of relying on driver anisotropic filtering (whose quality
    // varies between drivers). Only within a degree of the poles (footprints wider than 64 columns)
    // does the level rise; those rows all show nearly one point, so blurring along them is harmless.
    float width = max(abs(dx.x), abs(dy.x));
    float height = max(abs(dx.y), abs(dy.y));
    int taps = int(clamp(ceil(width / max(height, 1.0)), 1.0, 16.0));
    float lod = log2(max(max(height, width / 64.0), 1.0));
    vec3 sum = vec3(0.0);
    for (int i = 0; i < taps; ++i) {
        vec2 offset = vec2(((float(i) + 0.5) / float(taps) - 0.5) * width, 0.0);
        sum += textureLod(u_tile, (pixel + offset - u_tile_origin) / u_tile_size, lod).rgb;
    }
    frag_colour = vec4(sum / float(taps), 1.0);
}
