#version 330 core
// The parallax preview: a vertex of the panorama's displaced mesh (panorama/mesh3d.py, in the viewer's
// frame: x right, y up, z forward at yaw 0, metres) seen from an eye moved off the centre. The screen
// mapping is the perspective one of view.frag: plane = (ndc.x, ndc.y · h/w) · half_extent on the plane
// one unit ahead, so at the centre a vertex lands where the sphere view shows its direction.
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec2 a_uv;

uniform vec3 u_eye;
uniform vec3 u_right;
uniform vec3 u_up;
uniform vec3 u_forward;
uniform vec2 u_scale;        // (1 / half_extent, (w / h) / half_extent)
uniform vec2 u_depth_range;  // near, far (metres)

out vec2 v_uv;

void main() {
    vec3 p = a_position - u_eye;
    float z = dot(p, u_forward);
    float n = u_depth_range.x;
    float f = u_depth_range.y;
    gl_Position = vec4(dot(p, u_right) * u_scale.x, dot(p, u_up) * u_scale.y,
                       (z * (f + n) - 2.0 * f * n) / (f - n), z);
    v_uv = a_uv;
}
