#version 330 core
// Per-pixel ray rendering of a panorama cubemap. The ray maths mirror
// dit360_desktop/ui/viewer/camera.py (view_rays); the tests compare both.
//
// The renderer compiles one variant per projection and overlay setting by defining PROJECTION
// (0 perspective, 1 stereographic little planet, 2 flat equirect from the cubemap, 3 flat equirect
// straight from the panorama's own pixels) and OVERLAYS (0 or 1) after the #version line: software rasterisers such as Mesa's llvmpipe pay for every branch and every
// unused overlay instruction on each pixel, even when a uniform switches it off.
#ifndef PROJECTION
#define PROJECTION 0
#endif
#ifndef OVERLAYS
#define OVERLAYS 0
#endif
// MASK (0 or 1): tint the edit mask (an R8 equirect, white = regenerate) over the panorama.
#ifndef MASK
#define MASK 0
#endif

uniform samplerCube u_environment;
uniform vec2 u_viewport;       // pixels
uniform vec3 u_right;
uniform vec3 u_up;
uniform vec3 u_forward;
uniform float u_half_extent;   // tan(fov/2), 2·tan(fov/4) or fov/2 in radians, per projection
uniform vec2 u_flat_centre;    // yaw, pitch in radians (flat projection)
uniform bool u_grid;
uniform bool u_seam;
uniform vec3 u_background;
#if PROJECTION == 3
// The flat view samples the equirect itself: the cubemap's resampling blurs the top and bottom rows
// (its poles) and shows its face edges, and at 1:1 each screen pixel must be one panorama pixel.
uniform sampler2D u_equirect;  // repeats in longitude, mipmapped
uniform bool u_exact;          // 1:1: copy texels, no filtering at all
uniform ivec2 u_texel_origin;  // 1:1: the texel shown by the top-left screen pixel
#endif
#if MASK
uniform sampler2D u_mask;
uniform vec4 u_mask_tint;      // rgb, strength
#endif

out vec4 frag_colour;

const float PI = 3.14159265358979;

#if OVERLAYS
float unwrap(float dx, float period) {
    return dx - period * round(dx / period);
}

// Screen-space width of a degree of longitude/latitude, so overlay lines stay 1-2 px wide at
// any zoom; longitude steps are unwrapped at the ±180° seam.
float pixel_footprint(float value, bool periodic) {
    float dx = dFdx(value);
    float dy = dFdy(value);
    if (periodic) {
        dx = unwrap(dx, 360.0);
        dy = unwrap(dy, 360.0);
    }
    return max(length(vec2(dx, dy)), 1e-6);
}

float line_alpha(float distance_px, float half_width_px) {
    return 1.0 - smoothstep(half_width_px - 0.5, half_width_px + 0.75, distance_px);
}

vec3 overlays(vec3 colour, float lon_deg, float lat_deg) {
    float lon_px = pixel_footprint(lon_deg, true);
    float lat_px = pixel_footprint(lat_deg, false);
    // Meridians converge at the poles, where their screen width is meaningless: fade them out.
    float meridian_fade = 1.0 - smoothstep(72.0, 86.0, abs(lat_deg));

    if (u_grid) {
        float lat_line = abs(fract(lat_deg / 15.0 + 0.5) - 0.5) * 15.0 / lat_px;
        float lon_line = abs(fract(lon_deg / 30.0 + 0.5) - 0.5) * 30.0 / lon_px;
        float grid = max(line_alpha(lat_line, 0.6), line_alpha(lon_line, 0.6) * meridian_fade);
        colour = mix(colour, vec3(1.0), 0.35 * grid);
        float horizon = line_alpha(abs(lat_deg) / lat_px, 1.1);
        colour = mix(colour, vec3(1.0, 0.72, 0.25), 0.85 * horizon);
        float front = line_alpha(abs(lon_deg) / lon_px, 0.9) * meridian_fade;
        colour = mix(colour, vec3(0.35, 0.85, 1.0), 0.6 * front);
    }
    if (u_seam) {
        // Two dashed brackets a few pixels either side of the 0/360° join; the join itself stays
        // untouched so any real discontinuity in the picture remains visible between them.
        float seam_px = (180.0 - abs(lon_deg)) / lon_px;
        float bracket = line_alpha(abs(seam_px - 9.0), 1.0);
        float dash = step(0.35, fract(lat_deg / 2.0));
        colour = mix(colour, vec3(1.0, 0.2, 0.55), 0.9 * bracket * dash * meridian_fade);
    }
    return colour;
}
#endif

void main() {
    vec2 ndc = 2.0 * gl_FragCoord.xy / u_viewport - 1.0;
    vec2 plane = vec2(ndc.x, ndc.y * u_viewport.y / u_viewport.x) * u_half_extent;
#if PROJECTION >= 2
    float lon = u_flat_centre.x + plane.x;
    float lat = u_flat_centre.y + plane.y;
    // Wider than 360° (fitting a wide window) shows the panorama once, with background beside it.
    bool inside = abs(lat) <= 0.5 * PI && abs(plane.x) <= PI;
    lat = clamp(lat, -0.5 * PI, 0.5 * PI);
    vec3 direction = vec3(cos(lat) * sin(lon), sin(lat), cos(lat) * cos(lon));
#elif PROJECTION == 1
    // Inverse stereographic projection, see camera.view_rays.
    float s = dot(plane, plane) / 4.0;
    vec3 direction = ((1.0 - s) * u_forward + plane.x * u_right + plane.y * u_up) / (1.0 + s);
#else
    vec3 direction = normalize(u_forward + plane.x * u_right + plane.y * u_up);
#endif

#if PROJECTION == 3
    vec3 colour;
    if (u_exact) {
        ivec2 size = textureSize(u_equirect, 0);
        int row = u_texel_origin.y + int(u_viewport.y - gl_FragCoord.y);
        int column = u_texel_origin.x + int(gl_FragCoord.x);
        column -= size.x * int(floor(float(column) / float(size.x)));
        inside = row >= 0 && row < size.y;
        colour = texelFetch(u_equirect, ivec2(column, clamp(row, 0, size.y - 1)), 0).rgb;
    } else {
        colour = texture(u_equirect, vec2(lon / (2.0 * PI) + 0.5, 0.5 - lat / PI)).rgb;
    }
#else
    vec3 colour = texture(u_environment, direction).rgb;
#endif
#if MASK
    // Equirect coordinates as in panorama/projection.py. textureLod: the longitude jumps from 1 to 0
    // at the seam, and implicit derivatives would pick a tiny mip level along that line.
    vec2 mask_uv = vec2(atan(direction.x, direction.z) / (2.0 * PI) + 0.5,
                        0.5 - asin(clamp(direction.y / length(direction), -1.0, 1.0)) / PI);
    colour = mix(colour, u_mask_tint.rgb, u_mask_tint.a * textureLod(u_mask, mask_uv, 0.0).r);
#endif
#if OVERLAYS
    float lon_deg = degrees(atan(direction.x, direction.z));
    float lat_deg = degrees(asin(clamp(direction.y, -1.0, 1.0)));
    colour = overlays(colour, lon_deg, lat_deg);
#endif
#if PROJECTION >= 2
    colour = inside ? colour : u_background;
#endif
    frag_colour = vec4(colour, 1.0);
}
